"""Inference cost of a deployed (exported, then loaded) W2A2 student against its full-precision model.

ResNet-20 (or, `--net`, a net of the model zoo: `tests/zoo.py`'s MobileNetV2, …) on one-channel inputs of
Fashion-MNIST's size (1x28x28; `--size` for others), CPU, eval mode, no gradient. Four models are timed side by side
in one run, interleaved call by call so that the machine's load drifts hit them alike: the FP32 model, the
fake-quantized student as it trains (FP32 shadow weights, quantizers in the loop), and the student loaded from its
`.sqakd` file with its weights decoded at every call (the default: packed codes in memory) or once at load
(`cache_weights=True`). With the `[onnx]` extra installed, the student's ONNX file (`export_onnx`), its integer graph
(`export_onnx(..., integer=True)`: int8 kernels), the FP32 model's, and ONNX Runtime's own int8 post-training
quantization of the FP32 model (`quantize_static`, QDQ, per-channel int8 weights, calibrated on the same batch) join
them in ONNX Runtime (the session's intra-op threads = torch's threads; `ratio_to_fp32_ort`: to the FP32 model there). For batch 1 and batch 64 the
table gives the median latency and its ratio to FP32 (PyTorch), and the bytes of weights each model holds in memory
(parameters and buffers; for ONNX Runtime, the initializers of the graph it runs after its load-time optimizations,
which fold the decoding of the packed codes into FP32 weights). ONNX Runtime's threads do not spin between calls
here, so that they leave the cores to the PyTorch call that follows. With --compile, the FP32 model and the loaded
student (decoded per call, and with cached weights) also run through `torch.compile` (its default backend, inductor: fused kernels for the
activation quantizers' arithmetic; compiled before timing, ~20 s each on 2 CPU cores). The models are untrained
(random weights): file sizes of trained students are in the notebooks (`06_export`, `06a_onnx`).

    python tests/bench_deploy.py [--reps 200] [--bits 2] [--method ewgs] [--threads N] [--compile] [--net mobilenet_v2 --size 32]
"""
import sys, time, statistics, tempfile, warnings
warnings.filterwarnings('ignore')
from pathlib import Path
import torch, pandas as pd
from fastcore.script import call_parse
from sqakd_fastai.all import *
sys.path.insert(0, str(Path(__file__).parent))
import zoo

def nbytes(m): return sum(t.numel()*t.element_size() for t in list(m.parameters()) + list(m.buffers()))

def ort_model(fname, threads):
    "(a callable running `fname` in ONNX Runtime, the bytes of the initializers of the graph it runs after its optimizations)"
    import onnx, onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED # as `onnx_session`
    so.add_session_config_entry('session.intra_op.allow_spinning', '0') # its idle threads would spin on the cores the next PyTorch call needs
    so.optimized_model_filepath = str(fname.with_suffix('.opt.onnx'))
    sess = ort.InferenceSession(str(fname), so, providers=['CPUExecutionProvider'])
    name = sess.get_inputs()[0].name
    inits = onnx.load(so.optimized_model_filepath).graph.initializer
    return (lambda xb: sess.run(None, {name: xb.numpy()})),sum(len(onnx.numpy_helper.to_array(i).tobytes()) for i in inits)

def ort_ptq(ff, batches, bits:int=8):
    "ONNX Runtime's own static quantization of the FP32 model in `ff` (its pre-processing first: BatchNorm folded; QDQ, per-channel int weights, uint activations; `bits` 8 or 4), calibrated on `batches`"
    import onnx
    from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantFormat, QuantType
    from onnxruntime.quantization.shape_inference import quant_pre_process
    pre = ff.with_name(ff.stem + '.pre.onnx')
    quant_pre_process(str(ff), str(pre)) # as ONNX Runtime's quantization guide says: its graph optimizations (BatchNorm into Conv) before quantizing
    name = onnx.load(str(pre)).graph.input[0].name
    class Reader(CalibrationDataReader):
        def __init__(self): self.it = iter([{name: b.numpy()} for b in batches])
        def get_next(self): return next(self.it, None)
    out = ff.with_name(ff.stem + f'.ptq{bits}.onnx')
    a,w = {8: (QuantType.QUInt8, QuantType.QInt8), 4: (QuantType.QUInt4, QuantType.QInt4)}[bits]
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True, activation_type=a, weight_type=w)
    return out

@call_parse
def main(reps:int=200, # timed calls of each model at each batch size (after 5 warm-up calls)
         bits:int=2, # weight and activation bits
         method:str='ewgs', # quantizer method
         threads:int=0, # torch threads (0: torch's default)
         compile:bool=False, # also time `torch.compile` of the FP32 model and of both loaded students
         net:str='resnet20', # the net: 'resnet20' (the paper's), or any of `tests/zoo.py`'s NETS
         size:int=28, # input height and width
         integer:bool=False, # the student as `integer=True` makes it (`integer_student`: the one its integer graph computes)
        ):
    if threads: torch.set_num_threads(threads)
    if net not in zoo.NETS: raise SystemExit(f"unknown net {net!r}: choose from {list(zoo.NETS)}")
    torch.manual_seed(0)
    x = torch.randn(64, 1, size, size)
    fp = zoo.NETS[net]().eval()
    fq = init_quantizers(quantize_model(zoo.NETS[net](), bits, bits, method), x).eval()
    if integer: integer_student(fq, [(x,)])
    fn = export_quantized(fq, Path(tempfile.mkdtemp())/'student.sqakd', x[:2])
    models = {'FP32': fp, f'W{bits}A{bits} fake-quantized (training form)': fq,
              f'W{bits}A{bits} loaded, decoded per call': load_quantized(fn),
              f'W{bits}A{bits} loaded, cache_weights=True': load_quantized(fn, cache_weights=True)}
    if compile:
        models['FP32, torch.compile'] = torch.compile(fp)
        models[f'W{bits}A{bits} loaded, decoded per call, torch.compile'] = torch.compile(models[f'W{bits}A{bits} loaded, decoded per call'])
        models[f'W{bits}A{bits} loaded, cache_weights=True, torch.compile'] = torch.compile(models[f'W{bits}A{bits} loaded, cache_weights=True'])
    wbytes,fo = {k: nbytes(m) for k,m in models.items()},None
    try: import onnxruntime
    except ImportError: print("onnxruntime is not installed (pip install 'sqakd_fastai[onnx]'): PyTorch rows only")
    else:
        fo = export_onnx(fq, fn.with_suffix('.onnx'), x[:2])
        fi = export_onnx(fq, fn.with_suffix('.int8.onnx'), x[:2], integer=True, calib=[x])
        ff = fn.with_name('fp32.onnx')
        torch.onnx.export(fp, (x[:2],), dynamo=True, dynamic_shapes=({0: torch.export.Dim('batch', min=1)},), verbose=False).save(str(ff))
        fptq = ort_ptq(ff, [x])
        for k,f in (('FP32 in ONNX Runtime', ff), (f'W{bits}A{bits} ONNX (export_onnx) in ONNX Runtime', fo),
                    (f'W{bits}A{bits} integer ONNX (export_onnx integer=True) in ONNX Runtime', fi),
                    ("FP32 → ONNX Runtime's own int8 PTQ (quantize_static) in ONNX Runtime", fptq)):
            models[k],wbytes[k] = ort_model(f, torch.get_num_threads())
    rows = []
    with torch.no_grad():
        for bs in (1, 64):
            xb = x[:bs]
            for m in models.values():
                for _ in range(5): m(xb)
            t = {k: [] for k in models}
            for _ in range(reps):
                for k,m in models.items():
                    t0 = time.perf_counter(); m(xb); t[k].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k,v in t.items()}
            for k in models: rows.append(dict(model=k, batch=bs, median_ms=round(1e3*med[k], 3), ratio_to_fp32=round(med[k]/med['FP32'], 3),
                                              **({'ratio_to_fp32_ort': round(med[k]/med['FP32 in ONNX Runtime'], 3)} if 'FP32 in ONNX Runtime' in med else {}),
                                              weights_bytes=wbytes[k]))
    df = pd.DataFrame(rows)
    print(f"{net} at {size}x{size}: file {fn.stat().st_size:,} bytes" + (f", ONNX {fo.stat().st_size:,} bytes" if fo else '') + f"; torch {torch.__version__}, {torch.get_num_threads()} threads")
    with pd.option_context('display.width', 200): print(df.to_string(index=False))
    return df
