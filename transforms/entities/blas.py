"""thinc's CPU matrix product through numpy's BLAS instead of the bundled BLIS.

NER with ``en_core_web_sm`` spends about 40% of its time in ``NumpyOps.gemm`` (the tok2vec
CNN and the parser's feature precomputation over all tokens of a batch). thinc calls BLIS
for it; numpy's OpenBLAS picks a kernel for the CPU it runs on at load time and was 3x
faster per product on the development machine (AMD EPYC; NER 23-29% faster as a whole).
The entities are the same: ``benchmarks/throughput.py`` compares them with spaCy's own on every run, and
``tests/test_entities.py`` on real articles.

The parser's per-step products stay in BLIS: spaCy calls them from Cython through a C
function pointer that Python cannot replace.
"""
from __future__ import annotations

import numpy
from thinc.api import NumpyOps


class NumpyBlasOps(NumpyOps):
    """``NumpyOps`` whose ``gemm`` is numpy's ``matmul``; everything else is unchanged, so
    spaCy still takes its CPU paths (it tests ``isinstance(ops, NumpyOps)``)."""

    def gemm(self, x, y, out=None, trans1=False, trans2=False):
        a = x.T if trans1 else x
        b = y.T if trans2 else y
        if out is None:
            return numpy.matmul(a, b)
        numpy.matmul(a, b, out=out)
        return out


def one_blas_thread() -> None:
    """One BLAS thread in this process: Beam runs one worker process per core, and BLAS
    threads on top of that only fight over the same cores."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1, user_api="blas")


def use_numpy_blas(nlp) -> int:
    """Switches every layer of ``nlp``'s components that runs on plain ``NumpyOps`` (not
    GPU ops, not a subclass someone chose) to ``NumpyBlasOps``; returns how many layers
    changed. Call it once, right after loading."""
    ops, changed = NumpyBlasOps(), 0
    for _name, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if model is None or not hasattr(model, "walk"):
            continue
        for layer in model.walk():
            if type(layer.ops) is NumpyOps:
                layer.ops = ops
                changed += 1
    return changed
