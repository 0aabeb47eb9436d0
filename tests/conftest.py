"Test-only settings: silence the two known import-time warnings of fastai's dependencies; the `extra` marker."
import os, warnings
import pytest

def pytest_configure(config):
    # torch deprecates torch.jit.script, which fastai's imports still call
    config.addinivalue_line("filterwarnings", "ignore:`torch.jit.script` is deprecated:FutureWarning")
    # pandas announces pandas 4 changes that fastai's imports trigger
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:fastai")
    try:
        from pandas.errors import Pandas4Warning
        config.addinivalue_line("filterwarnings", "ignore::pandas.errors.Pandas4Warning")
    except ImportError: pass
    config.addinivalue_line("markers", "extra(name): needs that extra of sqakd_fastai (`pip install 'sqakd_fastai[name]'`); "
                                       "skipped where it is not installed, unless SQAKD_EXPECT_EXTRAS=1 says it must be")

def pytest_runtest_setup(item):
    "A test marked `extra(name)` is skipped in a venv without that extra (CI's plain venv), and fails where the extras are expected"
    from sqakd_fastai.extras import has_extra
    for m in item.iter_markers('extra'):
        if not has_extra(m.args[0]):
            if os.environ.get('SQAKD_EXPECT_EXTRAS') == '1': pytest.fail(f"the {m.args[0]} extra is not installed in a venv that should have it")
            pytest.skip(f"needs the {m.args[0]} extra; CI runs it in the venv that has it")
