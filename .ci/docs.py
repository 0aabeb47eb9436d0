"""Build the docs site and README.md without quarto (no quarto binary exists here).

    python .ci/docs.py site     # nbdev's notebook processing into _proc/, rendered by smalldocs into _docs/
    python .ci/docs.py readme   # write README.md from nbs/index.ipynb
    python .ci/docs.py check    # fail if README.md differs from nbs/index.ipynb, or the site lacks a page or signature
"""
import json, shutil, subprocess, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]

def readme_text(nb_path=root/'nbs'/'index.ipynb'):
    "Markdown of `index.ipynb`: markdown cells as they are, visible code cells as python blocks with their text outputs"
    nb = json.loads(Path(nb_path).read_text())
    out = []
    for c in nb['cells']:
        src = ''.join(c['source']).strip()
        if c['cell_type'] == 'markdown': out.append(src)
        elif c['cell_type'] == 'code' and src and not any(l.replace(' ', '') in ('#|hide', '#|exporti', '#|export') for l in src.splitlines()):
            out.append(f"```python\n{src}\n```")
            for o in c.get('outputs', []):
                text = ''.join(o.get('text', '') or o.get('data', {}).get('text/plain', ''))
                if text.strip(): out.append(f"```\n{text.rstrip()}\n```")
    return "<!-- Generated from nbs/index.ipynb by .ci/docs.py: edit the notebook, not this file. -->\n\n" + '\n\n'.join(out) + '\n'

def site():
    "Process the notebooks as nbdev does for quarto, then render them with smalldocs"
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.doclinks import _build_modidx
    from nbdev.serve import proc_nbs
    cfg = get_config()
    refresh_quarto_yml()
    _build_modidx()
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    proc_nbs(cfg.nbs_path, n_workers=0, force=True)
    cache = cfg.config_path/'_proc'
    subprocess.run([str(Path(sys.executable).parent/'smalldocs'), 'render', str(cache)], check=True)
    dest = cfg.config_path/cfg.doc_path.name
    shutil.rmtree(dest, ignore_errors=True)
    shutil.move(str(cache/cfg.doc_path.name), str(dest))
    print(f"docs site in {dest}")

# the pages and symbols a user must find, each with its signature and a docment (a parameter's comment)
PAGES = {'03_learner.html': [('quantize_learner', "quant_lr_mult: float = 0.01", "learning rate of quantizer parameters relative to the model")],
         '02_callback.html': [('SQAKDCallback', "kd_weight: float = 1.0", "weight of the distillation loss")],
         '01c_losses.html': [('kd_loss', "T: float = 4.0", "one value per sample")],
         '02b_metrics.html': [], '02c_training.html': [], '05a_packing.html': [], '05b_report.html': [], '06_export.html': [],
         '01_quantizers.html': [('quantize_model', "skip_first_last: bool = True", "keep the first and last Conv/Linear full precision"),
                                ('quant_layer', "a_bits: int | None = 2", "input activation bits"),
                                ('mse_range', "steps: int = 100", "candidate clips, evenly spaced")],
         '00c_modules.html': [('evaluating', "hooks: list = ()", "handles of hooks registered for this pass")],
         '02d_config.html': [('QuantConfig', "n_calib: int = 4", "training batches the activation ranges are calibrated on")],
         '01a_distributed.html': [('broadcast_state', "src: int = 0", "the rank whose values everybody takes")],
         '01b_calibration.html': [('act_samples', "seed: int = 0", "of the sampling, so that calibration is deterministic")],
         '02a_hessian.html': [('HessianDelta', "every: int = 5", "epochs between updates")],
         '06a_onnx.html': [('onnx_session', "threads: int | None = None", "intra-op threads")],
         '00_data.html': [('fashion_mnist_dls', "n_train: int | None = None", "train on a random subset"),
                          ('folder_dls', "labeled: bool | None = None", "labeled when the images sit in class sub-folders")],
         '10_results.html': [], '11_starting_points.html': [], '12_costs.html': [], '13_deployment.html': [],
         'index.html': []}

def _text(html):
    import re, html as h
    return re.sub(r'\s+', ' ', h.unescape(re.sub(r'<[^>]+>', ' ', html)))

def docs_run_cells(nbs=root/'nbs'):
    """Cells that nbdev's docs processing would execute beyond exports and imports: any code cell holding an import and anything else
    (nbdev's `_do_eval`). Such a cell runs while the site builds, `#| slow` or not: a slow cell of 08_reproduce trained a ResNet-18
    there for minutes of every CI run. Keep imports in the notebook's import cell."""
    import ast, re
    found = []
    for p in sorted(Path(nbs).glob('*.ipynb')):
        for i,c in enumerate(json.loads(p.read_text())['cells']):
            src = ''.join(c['source'])
            if c['cell_type'] != 'code' or {'export', 'exports', 'exporti', 'exec_doc'} & set(re.findall(r'^#\|\s*([\w-]+)', src, re.M)): continue
            try: tree = ast.parse('\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!'))))
            except SyntaxError: continue
            imports = lambda n: isinstance(n, (ast.Import, ast.ImportFrom))
            if any(map(imports, ast.walk(tree))) and not all(map(imports, tree.body)): found.append(f"{p.name} cell {i}: {src.splitlines()[0][:60]}")
    return found

README_MAX_LINES = 150 # the guide-and-shape issue: what, install, example, main job, deploy, links; measurements live on docs pages

def check():
    ok = True
    for c in docs_run_cells(): print(f"docs: the site build would run this cell (it mixes imports with code): {c}"); ok = False
    if (root/'README.md').read_text() != readme_text():
        print("README.md differs from nbs/index.ipynb: run `python .ci/docs.py readme`"); ok = False
    readme = (root/'README.md').read_text()
    if len(readme.splitlines()) > README_MAX_LINES: print(f"README.md has {len(readme.splitlines())} lines, more than {README_MAX_LINES}: measurements go to docs pages"); ok = False
    docs = root/'_docs'
    import re
    for page in sorted(set(re.findall(r'\]\(([\w.-]+\.html)\)', readme)) - set(PAGES)): # every page the README links to exists
        if not (docs/page).exists(): print(f"docs: README.md links to {page}, which the site lacks"); ok = False
    for page,syms in PAGES.items():
        p = docs/page
        if not p.exists(): print(f"docs: missing page {page}"); ok = False; continue
        text = _text(p.read_text())
        for sym,sig,docment in syms:
            for what in (f"def {sym}", sig, docment):
                if ' '.join(what.split()) not in text.replace(' ( ', '(').replace(' )', ')'): print(f"docs: {page} lacks {what!r} (of {sym})"); ok = False
    print("docs check passed" if ok else "docs check FAILED")
    return ok

if __name__ == '__main__':
    cmd = sys.argv[1] if len(sys.argv) > 1 else 'site'
    if cmd == 'readme': (root/'README.md').write_text(readme_text()); print("README.md written")
    elif cmd == 'site': site()
    elif cmd == 'check': sys.exit(0 if check() else 1)
    else: sys.exit(__doc__)
