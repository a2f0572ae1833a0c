"""Fixed feedback matrices: dense fp32 (FA, DFA) or sign-binarised and bit-packed (BDFA)."""

from __future__ import annotations

import numpy as np
import torch


class DenseFeedback:
    """A fixed fp32 matrix M (n_out x n_in): ``project(e) = e @ M`` maps errors of width n_out to n_in."""

    def __init__(self, matrix: torch.Tensor) -> None:
        self.matrix = matrix.detach().float().contiguous()

    @property
    def nbytes(self) -> int:
        return self.matrix.numel() * self.matrix.element_size()

    def project(self, error: torch.Tensor) -> torch.Tensor:
        return error @ self.matrix

    def macs(self, batch: int) -> int:
        return batch * self.matrix.numel()


class BinaryFeedback:
    """``scale * sign(M)`` kept as packed bits, 1 bit per element (Eq. 9).

    ``project`` never builds a float copy of the matrix: bits are unpacked to a bool mask and each
    output is a signed sum of the error's entries, additions only; ``scale`` multiplies once at the end.
    """

    def __init__(self, matrix: torch.Tensor, scale: float = 1.0) -> None:
        signs = matrix.detach().cpu().numpy() >= 0  # sign(0) taken as +1
        self.shape = tuple(matrix.shape)
        self.bits = torch.from_numpy(np.packbits(signs.reshape(-1)))
        self.scale = float(scale)

    @property
    def nbytes(self) -> int:
        return self.bits.numel()  # ceil(n_out * n_in / 8)

    def signs(self) -> torch.Tensor:
        """The +-1 matrix, for tests and diagnostics only."""
        mask = self._mask()
        return mask.float() * 2 - 1

    def _mask(self) -> torch.Tensor:
        n = self.shape[0] * self.shape[1]
        unpacked = np.unpackbits(self.bits.numpy(), count=n).astype(bool)
        return torch.from_numpy(unpacked).view(self.shape)

    def project(self, error: torch.Tensor) -> torch.Tensor:
        if self.shape[0] == 2:
            return self._project_two_classes(error)
        mask = self._mask()
        out = torch.zeros(error.shape[0], self.shape[1])
        for k in range(self.shape[0]):  # n_out is small: one signed add per output class
            column = error[:, k:k + 1]
            out += torch.where(mask[k], column, -column)
        return out * self.scale

    def _project_two_classes(self, error: torch.Tensor) -> torch.Tensor:
        """The tracker's case (fc6 has 2 outputs): unit j's error is one of ``+-e0 +- e1``, so each sample
        needs 4 sums, and each unit picks one by its 2-bit sign code; no float or +-1 matrix is built."""
        e0, e1 = error[:, 0:1], error[:, 1:2]
        table = torch.cat([-e0 - e1, -e0 + e1, e0 - e1, e0 + e1], dim=1)  # by code 2 * (s0 > 0) + (s1 > 0)
        return table[:, self._codes()] * self.scale

    def _codes(self) -> torch.Tensor:
        """Each unit's 2-bit sign code, read from the packed bits (row 0's bit, then row 1's)."""
        bits = np.unpackbits(self.bits.numpy(), count=2 * self.shape[1]).reshape(2, -1)
        return torch.from_numpy((2 * bits[0] + bits[1]).astype(np.int64))

    def macs(self, batch: int) -> int:
        """Additions, not multiplies: counted as accumulates."""
        return batch * self.shape[0] * self.shape[1]
