"""Random instances: A1, A2, A3 as in planted ones, B standard normal (``Problem.random``); min L unknown."""

from benchopt import BaseDataset

from benchmark_utils import Problem, instance


class Dataset(BaseDataset):
    name = "random"
    parameters = {"n": [128], "d": [16], "seed": [0]}

    def get_data(self) -> dict:
        return instance(Problem.random(self.n, self.d, self.seed), min_loss=None)
