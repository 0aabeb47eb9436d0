"""SQAKD under PyTorch DDP through fastai's `distrib_ctx`, in 2 CPU processes (gloo) launched by torchrun
and by `accelerate launch`."""
import os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest, torch

pytestmark = pytest.mark.extra('distributed') # every test here runs distrib_ctx, which needs accelerate

HERE = Path(__file__).parent

def free_port():
    "A TCP port nothing listens on now (accelerate's default, 29500, may be taken by another run on the machine)"
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def launcher(name):
    if name == 'torchrun': return [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2']
    # accelerate's torchrun-based launcher is `--multi_gpu`, which runs on CPUs too (its `--cpu` starts one process)
    return [str(Path(sys.executable).parent/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
            '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', str(free_port())]

def kill_tagged(tag:str):
    "Kill every process whose environment holds `tag`: the launcher and its ranks, which torchrun starts in sessions of their own"
    for d in Path('/proc').iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid(): continue
        try:
            if tag.encode() in (d/'environ').read_bytes(): os.kill(int(d.name), signal.SIGKILL)
        except OSError: pass # gone, or not ours to read

def launch(*args, cwd=None, launcher_name='torchrun', timeout=600):
    "Run a 2-process job; on a time-out kill the launcher and every rank, then fail"
    tag = f"SQAKD_TEST_LAUNCH={os.getpid()}-{time.time_ns()}" # marks every process of this launch
    p = subprocess.Popen([*launcher(launcher_name), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=cwd, env={**os.environ, 'PYTHONWARNINGS': 'ignore', tag.split('=')[0]: tag.split('=')[1]}, start_new_session=True)
    try: out,err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # killing the launcher's group is not enough: orphaned ranks kept the pipes open and `communicate` waited forever (seen)
        os.killpg(p.pid, signal.SIGKILL); kill_tagged(tag); out,err = p.communicate()
        pytest.fail(f"{launcher_name} did not finish in {timeout} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)

@pytest.fixture(scope='module', params=['torchrun', 'accelerate'])
def ranks(request, tmp_path_factory):
    out = tmp_path_factory.mktemp('ddp')
    r = launch(HERE/'ddp_sqakd.py', out, launcher_name=request.param)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-5000:])
    return [torch.load(out/f'rank{i}.pt', weights_only=False) for i in range(2)]

def differ(a, b): return [k for k in a if not torch.equal(a[k], b[k])]

def test_ranks_started_apart(ranks):
    "The ranks start from different teachers and quantizer ranges, so agreeing at the end means something"
    a,b = ranks[0]['before'],ranks[1]['before']
    assert differ(a['teacher'], b['teacher'])
    assert any(k.endswith(('lower', 'upper')) or 'quantizer' in k for k in differ(a['student'], b['student']))

def test_ranks_end_bit_identical(ranks):
    "Student parameters, quantizer parameters and buffers, and the teacher: the same bits on both ranks, as fit left them"
    a,b = ranks[0]['after'],ranks[1]['after']
    assert any('quantizer' in k for k in a['student'])
    assert any(k.endswith('.delta') and float(v) > 0 for k,v in a['student'].items()) # the Hessian δ moved, and (below) agrees across ranks, each of which estimated on its own batches
    assert differ(a['student'], b['student']) == []
    assert differ(a['teacher'], b['teacher']) == []
    assert differ(a['teacher'], ranks[0]['before']['teacher']) == [] # rank 0's teacher, never trained
    assert ranks[0]['model_type'] == 'CifarResNet' and 'DistributedTrainer' not in ranks[0]['cbs'] # unwrapped, detached

def test_buffers_identical_without_ddp_buffer_broadcast(ranks):
    "With DDP's `broadcast_buffers=False` too, the ranks end with rank 0's BatchNorm statistics"
    assert differ(ranks[0]['no_bcast'], ranks[1]['no_bcast']) == []

def test_a_bad_batch_on_one_rank_is_skipped_by_all(ranks):
    "Rank 1's NaN batch: both ranks skipped it, and training went on in step (the bit-identical test above)"
    assert [r['n_skipped'] for r in ranks] == [1, 1]

def test_kl_fell(ranks):
    for r in ranks: assert r['v1'][0] < r['v0'][0], (r['v0'], r['v1'])

def test_metrics_gathered_over_the_whole_validation_set(ranks):
    "Both ranks log one figure, that of a single process evaluating the same weights on every sample"
    n = ranks[0]['n_valid']
    assert ranks[0]['v1'] == ranks[1]['v1']
    assert ranks[0]['last_epoch'][1:] == ranks[0]['v1'] # fit's last validation saw the model validate() sees
    _,acc,agree,fmse = ranks[0]['v1'] # valid loss, accuracy, teacher_agreement, feature_mse
    single = ranks[0]['single']
    # the teacher ran BatchNorm-folded in fit and as it is in `evaluate`: a near-tie may flip one sample
    assert abs(acc - single['accuracy']) <= 1.01/n, (acc, single)
    assert abs(agree - single['teacher_agreement']) <= 1.01/n, (agree, single)
    assert 0 < fmse < 1

def test_cli_under_torchrun(tmp_path):
    "`torchrun -m sqakd_fastai`: the teacher trained once by both ranks, then read by rank 0 alone; only rank 0 writes and prints"
    from test_cli import QUICK, check_outputs
    r = launch('-m', 'sqakd_fastai', *QUICK, '--out', tmp_path/'a', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-5000:]
    assert r.stdout.count('W2A2 ewgs SQAKD student') == 1, r.stdout[-3000:]
    res = check_outputs(tmp_path/'a')
    assert 'trained' in res.model[0] and len(list((tmp_path/'a').glob('teacher_*.pth'))) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a'] # nothing written beside --out, by any rank
    r = launch('-m', 'sqakd_fastai', *QUICK, '--unlabeled', '--out', tmp_path/'a', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-5000:]
    assert 'cached' in check_outputs(tmp_path/'a').model[0]
