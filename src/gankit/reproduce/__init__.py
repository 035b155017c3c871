"""``gankit reproduce NAME``: paper reproductions, each a declaration (presets, metrics, a
table) run by :mod:`gankit.reproduce.runner`."""
from gankit.reproduce import cgan_mnist, dcgan_mnist, fgan_gaussian, figure1, goodfellow2014, mirza2014, pix2pix, ssl_mnist, toy2d, wgan  # noqa: F401
from gankit.reproduce.runner import REPRODUCTIONS, Options, Reproduction, get_reproduction, run

__all__ = ["REPRODUCTIONS", "Options", "Reproduction", "get_reproduction", "run"]
