"""Planted instances with noise: B + noise·N, N standard normal n×d from ``default_rng((seed, 1))``; min L unknown."""

import numpy as np
from benchopt import BaseDataset

from benchmark_utils import Problem, instance


class Dataset(BaseDataset):
    name = "planted-noisy"
    parameters = {"n": [128], "d": [16], "seed": [0], "noise": [0.1]}

    def get_data(self) -> dict:
        problem = Problem.planted(self.n, self.d, self.seed)
        B = problem.host["B"] + self.noise * np.random.default_rng((self.seed, 1)).standard_normal((self.n, self.d))
        return instance(problem, min_loss=None, B=B)
