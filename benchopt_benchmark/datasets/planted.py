"""Planted instances: B = softmax_rows(A1 X* A2ᵀ) A3 Y*, so min L = 0 (``Problem.planted``)."""

from benchopt import BaseDataset

from benchmark_utils import Problem, instance


class Dataset(BaseDataset):
    name = "planted"
    parameters = {"n": [128], "d": [16], "seed": [0]}

    def get_data(self) -> dict:
        return instance(Problem.planted(self.n, self.d, self.seed), min_loss=0.0)
