"""Resource limits: the runtime refuses a batch whose live values would exceed the memory limit."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ir import ResourceError
from chainrule.runtime import memory_limit, set_memory_limit
from chainrule.runtime.limits import parse_size


@pytest.fixture
def limit():
    yield set_memory_limit
    set_memory_limit(None)


def test_peak_bytes_of_an_mlp_counts_inputs_and_live_intermediates():
    exe = cr.compile(cr.nn.Sequential(cr.nn.Linear(784, 256), cr.nn.ReLU(), cr.nn.Linear(256, 10)))
    n = 512
    x, h, r = n * 784 * 4, n * 256 * 4, n * 256 * 4
    # while Relu runs, x, fc1 (its input) and relu are alive; afterwards fc1 is freed
    assert exe.interpreter.peak_bytes({"N": n}) == x + h + r


def test_a_batch_over_the_limit_is_refused_before_running(limit):
    exe = cr.compile(cr.nn.Sequential(cr.nn.Linear(784, 256), cr.nn.ReLU(), cr.nn.Linear(256, 10)))
    limit("1M")
    with pytest.raises(ResourceError, match=r"N=512 would need 2\.5 MiB .* limit of 1\.0 MiB"):
        exe(np.zeros((512, 784), np.float32))
    assert exe(np.zeros((8, 784), np.float32)).shape == (8, 10)  # a small batch still runs


def test_limit_from_environment(monkeypatch, limit):
    monkeypatch.setenv("CHAINRULE_MEMORY_LIMIT", "3G")
    assert memory_limit() == 3 << 30
    assert parse_size("512M") == 512 << 20 and parse_size("1000") == 1000 and parse_size("2GiB") == 2 << 30
    with pytest.raises(ResourceError, match="cannot read memory size 'lots'"):
        parse_size("lots")
