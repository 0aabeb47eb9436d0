"Test-only settings: silence the two known import-time warnings of fastai's dependencies."
import warnings

def pytest_configure(config):
    # torch deprecates torch.jit.script, which fastai's imports still call
    config.addinivalue_line("filterwarnings", "ignore:`torch.jit.script` is deprecated:FutureWarning")
    # pandas announces pandas 4 changes that fastai's imports trigger
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:fastai")
    try:
        from pandas.errors import Pandas4Warning
        config.addinivalue_line("filterwarnings", "ignore::pandas.errors.Pandas4Warning")
    except ImportError: pass
