"""The integer ONNX graph (`export_onnx(..., integer=True)`) of the model zoo's nets: how many of each student's
quantized layers ONNX Runtime fuses into integer kernels (QLinearConv / QLinearMatMul), how many convolutions stay
float, the file's bytes, and how far ONNX Runtime's outputs are from the fake-quantized student's (mean difference
over the spread of the outputs across images). Untrained nets (`tests/zoo.py`'s constructors, 1x28x28 inputs),
quantizers initialised on a random batch: a check that every net exports and fuses, not of accuracy.

    python tests/int8_zoo.py [--nets mobilenet_v2,efficientnet_b0] [--bits 8]
"""
import sys, warnings
from pathlib import Path
from collections import Counter
import tempfile
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).parent))
import numpy as np, torch, pandas as pd, onnx, onnxruntime as ort
from fastcore.script import call_parse
from sqakd_fastai.all import *
import zoo

@call_parse
def main(nets:str='mobilenet_v2,efficientnet_b0', # names of `zoo.NETS`, comma-separated
         bits:str='8', # widths (WbAb), comma-separated
        ):
    torch.manual_seed(0)
    x,d,rows = torch.randn(16, 1, 28, 28),Path(tempfile.mkdtemp()),[]
    for name in nets.split(','):
        for b in [int(v) for v in bits.split(',')]:
            m = init_quantizers(quantize_model(zoo.NETS[name]().eval(), b, b), x).eval()
            f = export_onnx(m, d/f'{name}_w{b}.int8.onnx', x[:2], integer=True, calib=[x])
            so = ort.SessionOptions(); so.optimized_model_filepath = str(f.with_suffix('.opt.onnx'))
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED # as `onnx_session`
            yo = ort.InferenceSession(str(f), so, providers=['CPUExecutionProvider']).run(None, {'x0': x.numpy()})[0]
            ops = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
            with torch.no_grad(): y = m(x).numpy()
            rows.append(dict(net=name, bits=b, quantized_layers=len(quant_layers(m)), integer_kernels=ops['QLinearConv'] + ops['QLinearMatMul'],
                             float_convs=ops['Conv'] + ops['FusedConv'], file_bytes=f.stat().st_size,
                             diff_over_spread=round(float(np.abs(yo - y).mean()/np.abs(y - y.mean(0)).mean()), 3)))
    with pd.option_context('display.width', 200): print(pd.DataFrame(rows).to_string(index=False))
