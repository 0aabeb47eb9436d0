"""`sqakd_train` end to end, as a user runs it: the installed console script, in its own process."""
import os, subprocess, sys
from pathlib import Path
import pandas as pd
import pytest

EXE = Path(sys.executable).parent/'sqakd_train'
QUICK = ['--n_train', '512', '--n_valid', '256', '--epochs', '1', '--teacher_epochs', '1', '--bs', '64']

def run(*args, cwd=None):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)

def check_outputs(out, student='student_w2a2_ewgs.sqakd', trained_teacher=True, n_students=1):
    files = {p.name for p in Path(out).iterdir()}
    assert {'results.csv', 'quant_report.csv', 'training.png', student} <= files, files
    assert any(f.startswith('teacher_') for f in files) == trained_teacher # the cache of a teacher it trained
    res = pd.read_csv(Path(out)/'results.csv')
    assert len(res) == 1 + n_students
    assert {'model', 'w_bits', 'a_bits', 'method', 'accuracy', 'teacher_agreement', 'kl', 'fp32_bytes', 'packed_bytes', 'file_bytes', 'train_seconds'} <= set(res.columns)
    assert res.packed_bytes[1] < res.fp32_bytes[1]/4
    assert res.file_bytes.iloc[-1] == (Path(out)/student).stat().st_size
    from sqakd_fastai.export import load_quantized, quant_report # the packed student loads on this stack, without the Learner
    import torch
    m = load_quantized(Path(out)/student)
    assert not m.training and quant_report(m, torch.zeros(1, 1, 28, 28)).packed_bytes.iloc[-1] == res.packed_bytes.iloc[-1]
    assert 0 <= res.teacher_agreement[1] <= 1 and res.teacher_agreement[0] == 1
    assert (Path(out)/'training.png').stat().st_size > 1000
    return res

@pytest.fixture(scope='module')
def main_job(tmp_path_factory):
    "The main job on labeled data, as the README runs it (no extra needed): its output folder and run"
    out = tmp_path_factory.mktemp('main')/'a'
    return out,run(*QUICK, '--out', out)

def test_main_job(main_job):
    out,r = main_job
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'W2A2 ewgs SQAKD student' in r.stdout and 'layer3.2.conv2' in r.stdout # the results and the quant_report
    res = check_outputs(out)
    assert 0.1 < res.accuracy[0] <= 1

@pytest.mark.extra('onnx')
def test_unlabeled_with_saved_teacher_and_onnx(main_job, tmp_path):
    assert main_job[1].returncode == 0, main_job[1].stderr[-2000:]
    teacher = next(main_job[0].glob('teacher_*.pth'))
    r = run(*QUICK, '--unlabeled', '--bits', '2,4', '--method', 'lsq', '--teacher', teacher, '--out', tmp_path/'b', '--feature_weight', '1',
            '--calib', '3sigma', '--w_granularity', 'channel', '--onnx')
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'W4A4 lsq SQuaT student' in r.stdout # SQuaT's feature term on
    res = check_outputs(tmp_path/'b', 'student_w4a4_lsq.sqakd', trained_teacher=False, n_students=2)
    assert (tmp_path/'b'/'student_w2a2_lsq.sqakd').is_file()
    from sqakd_fastai.export import load_quantized
    tables = [m.weight_quantizer.table for m in load_quantized(tmp_path/'b'/'student_w4a4_lsq.sqakd').modules() if hasattr(m, 'weight_quantizer')]
    assert tables and all(t.dim() == 2 and t.shape[1] == 2**4 for t in tables) # --w_granularity channel: one 16-entry table per output channel
    assert 'given' in res.model[0]
    import onnxruntime as ort, numpy as np # --onnx: each student's ONNX twin, its size in the table, and it runs
    assert res.onnx_bytes[2] == (tmp_path/'b'/'student_w4a4_lsq.onnx').stat().st_size
    sess = ort.InferenceSession(str(tmp_path/'b'/'student_w2a2_lsq.onnx'), providers=['CPUExecutionProvider'])
    assert sess.run(None, {'x0': np.zeros((3, 1, 28, 28), np.float32)})[0].shape == (3, 10)

BAD = [(['--bits', '0'], 'bits must be in 1..8'), (['--data', '/nowhere'], 'no such folder'), (['--feature_weight', '-1'], 'feature_weight must be a number >= 0'),
       (['--calib', 'best'], 'unknown calib rule'), (['--data', 'EMPTY'], 'holds no image files')]

MAINS = '''
import sys, io, json, contextlib
from sqakd_fastai.cli import main
res = []
for args in json.loads(sys.argv[1]): # each as `sqakd_train ARGS` would run it: its exit code and what it printed on stderr
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try: main(args); code = 0
        except SystemExit as e: code = e.code
    res.append((code, err.getvalue()))
print(json.dumps(res))
'''

def check_one_line(code, stderr, msg):
    assert code != 0
    assert msg in stderr and 'Traceback' not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr

def test_console_script_fails_in_one_line(tmp_path):
    r = run(*BAD[0][0], '--out', tmp_path/'o')
    check_one_line(r.returncode, r.stderr, BAD[0][1])

def test_bad_options_fail_in_one_line(tmp_path):
    "Every bad option through the command's entry point `main`, in one process (one fastai import, not one a case)"
    import json
    (tmp_path/'empty').mkdir()
    cases = [[str(tmp_path/'empty') if a == 'EMPTY' else a for a in args] + ['--out', str(tmp_path/'o')] for args,_ in BAD]
    r = subprocess.run([sys.executable, '-c', MAINS, json.dumps(cases)], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(res) == len(BAD)
    for (_,msg),(code,err) in zip(BAD, res): check_one_line(code, err, msg)
