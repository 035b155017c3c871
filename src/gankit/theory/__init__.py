"""The paper's theory (section 4) computed numerically: D*, V(D, G), C(G), JSD."""
from gankit.theory.optimum import (
    LOG4,
    c_of_g,
    c_of_g_quad,
    jsd,
    jsd_quad,
    kl,
    optimal_discriminator,
    quadrature_weights,
    value,
    value_quad,
)

__all__ = [
    "LOG4", "c_of_g", "c_of_g_quad", "jsd", "jsd_quad", "kl", "optimal_discriminator",
    "quadrature_weights", "value", "value_quad",
]
