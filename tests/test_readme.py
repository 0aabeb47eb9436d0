"""The README's worked example, run as written on fewer images and epochs: the example a newcomer copies first must not rot."""
import re
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]

def worked_example()->str:
    "The first python block after the README's '## A worked example' heading"
    text = (ROOT/'README.md').read_text()
    assert '## A worked example' in text
    return re.search(r"```python\n(.*?)```", text.split('## A worked example', 1)[1], re.S).group(1)

def test_worked_example(tmp_path, monkeypatch, capsys):
    code = worked_example()
    small = code.replace('n_train=10_000', 'n_train=256, n_valid=256').replace('fit_one_cycle(3,', 'fit_one_cycle(1,')
    assert small.count('n_valid=256') == 1 and small.count('fit_one_cycle(1,') == 2, code # the lines this test shrinks are still there
    monkeypatch.chdir(tmp_path) # the example writes student.sqakd beside it
    ns = {}
    exec(compile(small, 'README.md', 'exec'), ns)
    learn = ns['learn']
    assert 'teacher_agreement' in [m.name for m in learn.metrics]
    loss,acc,agree = learn.validate()
    assert 0 < agree <= 1 and 0 <= acc <= 1
    from sqakd_fastai.export import load_quantized
    m = load_quantized(tmp_path/'student.sqakd')
    xb = learn.dls.valid.one_batch()[0][:8].as_subclass(torch.Tensor)
    with torch.no_grad(): torch.testing.assert_close(m(xb), learn.model.eval()(xb), atol=1e-4, rtol=1e-4)
    assert str(agree)[:4] in capsys.readouterr().out # print(learn.validate()) showed the same metrics
