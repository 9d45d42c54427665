"""The network's dimensions, named as in the tutorial."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dims:
    """Batch size ``N``, input ``D_in``, hidden ``H`` and output ``D_out`` widths.

    The defaults are the tutorial's: ``N, D_in, H, D_out = 64, 1000, 100, 10``.
    """

    N: int = 64
    D_in: int = 1000
    H: int = 100
    D_out: int = 10

    def __post_init__(self) -> None:
        for name in ("N", "D_in", "H", "D_out"):
            value = getattr(self, name)
            # bool is an int subclass; Dims(N=True) is a bug, not a batch of one.
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Dims.{name} must be a positive int, got {value!r}")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical shape of every parameter name the contract knows."""
        return {
            "w1": (self.D_in, self.H),
            "b1": (self.H,),
            "wm": (self.H, self.H),
            "bm": (self.H,),
            "w2": (self.H, self.D_out),
            "b2": (self.D_out,),
        }

    def matmul_flops_per_step(self, depth: int = 0) -> int:
        """Matmul FLOPs of one training step (forward + backward, no gradient for x).

        Forward costs ``2*N*D_in*H + 2*N*H*D_out``; backward twice that, less the
        ``2*N*D_in*H`` gradient for x that nobody needs. Each middle repeat adds
        ``6*N*H*H`` (its input gradient is needed).
        """
        n, d_in, h, d_out = self.N, self.D_in, self.H, self.D_out
        return 4 * n * d_in * h + 6 * n * h * d_out + depth * 6 * n * h * h


TUTORIAL_DIMS = Dims()

TUTORIAL_STEPS = 500
"""The tutorial's training loop: ``for t in range(500)``."""
