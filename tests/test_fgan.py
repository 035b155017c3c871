"""f-GAN divergences checked against quadrature, closed forms and scipy."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import torch

from gankit.errors import ConfigError
from gankit.objectives.base import build_objective
from gankit.objectives.fgan import DIVERGENCES, get_divergence, wright_omega

NAMES = sorted(DIVERGENCES)
# P = data, Q = model; Q wider than P so that both chi-square divergences are finite
MU_P, SD_P, MU_Q, SD_Q = 0.0, 1.0, 0.6, 1.25
LIMITS = (-20.0, 20.0)  # both densities are below 1e-80 outside


def _normal_pdf(x: float, mu: float, sd: float) -> float:
    return math.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def _t(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def _quad(fn) -> float:
    val, err = scipy.integrate.quad(fn, *LIMITS, points=[MU_P, MU_Q], limit=400, epsabs=1e-11, epsrel=1e-10)
    return val


def _divergence_by_quadrature(name: str) -> float:
    div = get_divergence(name)

    def integrand(x: float) -> float:
        p, q = _normal_pdf(x, MU_P, SD_P), _normal_pdf(x, MU_Q, SD_Q)
        return q * float(div.f(_t(p / q)))

    return _quad(integrand)


# V = g_f^{-1}(T), worked out by hand from the activations in the paper's table
INVERSE_ACTIVATION = {
    "kl": lambda t: t,
    "reverse-kl": lambda t: -torch.log(-t),
    "pearson": lambda t: t,
    "neyman": lambda t: -torch.log(1 - t),
    "hellinger": lambda t: -torch.log(1 - t),
    "jeffrey": lambda t: t,
    "js": lambda t: -torch.log(2 * torch.exp(-t) - 1),
    "gan": lambda t: t - torch.log(-torch.expm1(t)),
}


def test_every_divergence_of_the_table_is_there():
    assert set(NAMES) == {"kl", "reverse-kl", "pearson", "neyman", "hellinger", "jeffrey", "js", "gan", "tv"}


def test_kl_and_pearson_quadrature_match_gaussian_closed_forms():
    # KL(P||Q) and chi2(P||Q) = integral p^2/q - 1 for Gaussians, in closed form
    kl = math.log(SD_Q / SD_P) + (SD_P**2 + (MU_P - MU_Q) ** 2) / (2 * SD_Q**2) - 0.5
    assert _divergence_by_quadrature("kl") == pytest.approx(kl, abs=1e-8)
    a = 2 / SD_P**2 - 1 / SD_Q**2  # precision of p^2/q
    b = 2 * MU_P / SD_P**2 - MU_Q / SD_Q**2
    c = 2 * MU_P**2 / SD_P**2 - MU_Q**2 / SD_Q**2
    log_int = -0.5 * math.log(2 * math.pi) - 2 * math.log(SD_P) + math.log(SD_Q) + 0.5 * math.log(2 * math.pi / a) + 0.5 * (b * b / a - c)
    assert _divergence_by_quadrature("pearson") == pytest.approx(math.exp(log_int) - 1, abs=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_optimal_T_makes_the_bound_equal_the_divergence(name):
    div = get_divergence(name)
    truth = _divergence_by_quadrature(name)

    def bound_integrand(x: float) -> float:
        p, q = _normal_pdf(x, MU_P, SD_P), _normal_pdf(x, MU_Q, SD_Q)
        t = div.f_prime(_t(p / q))  # T*(x) = f'(p(x)/q(x))
        return p * float(t) - q * float(div.conjugate(t))

    assert truth - float(div.f(_t(1.0))) > 1e-3  # D_f(P||P) = f(1); the two Gaussians differ under every f
    assert _quad(bound_integrand) == pytest.approx(truth, abs=1e-3)

    if name in INVERSE_ACTIVATION:  # the same through D's raw output V and the stable f*(g_f(V))

        def v_integrand(x: float) -> float:
            p, q = _normal_pdf(x, MU_P, SD_P), _normal_pdf(x, MU_Q, SD_Q)
            v = INVERSE_ACTIVATION[name](div.f_prime(_t(p / q)))
            return p * float(div.activation(v)) - q * float(div.conjugate_of_activation(v))

        assert _quad(v_integrand) == pytest.approx(truth, abs=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_stable_composition_equals_the_naive_one_where_that_is_finite(name):
    div = get_divergence(name)
    v = torch.linspace(-6, 6, 241, dtype=torch.float64)
    naive = div.conjugate(div.activation(v))
    torch.testing.assert_close(div.conjugate_of_activation(v), naive, rtol=1e-9, atol=1e-9)


EDGE_RANGE = {
    "kl": (-1e4, 80.0),  # dom f* = R; f*(v) = exp(v - 1)
    "reverse-kl": (-80.0, 1e4),  # t -> 0- as v -> +inf
    "pearson": (-1e4, 1e4),
    "neyman": (-80.0, 1e4),  # t -> 1- as v -> +inf
    "hellinger": (-80.0, 80.0),  # t -> 1-: f*(t) = t/(1-t) = e^v - 1 itself grows like e^v
    "jeffrey": (-1e4, 80.0),  # f*(t) ~ e^(t-1) for large t
    "js": (-1e4, 1e4),  # t -> log 2 as v -> +inf
    "gan": (-1e4, 1e4),  # t -> 0- as v -> +inf
    "tv": (-1e4, 1e4),  # |t| -> 1/2
}


@pytest.mark.parametrize("name", NAMES)
def test_losses_and_gradients_finite_at_the_edges_of_the_domain(name):
    # float32 V far out: T = g_f(V) is at (or rounds onto) the edge of dom f*
    obj = build_objective("fgan", {"divergence": name, "generator_loss": "saddle"})
    alt = build_objective("fgan", {"divergence": name})
    # V far out on the side where T nears the edge of dom f*; on the other side only as far
    # as the true values of exp(+-v) fit in float32 (beyond, they are genuinely infinite)
    lo, hi = EDGE_RANGE[name]
    v = torch.linspace(lo, hi, 101, dtype=torch.float32, requires_grad=True)
    for loss in (obj.d_loss(v, v.flip(0)), obj.g_loss(v), alt.g_loss(v)):
        (g,) = torch.autograd.grad(loss, v)
        assert torch.isfinite(loss) and torch.isfinite(g).all()


def test_naive_gan_composition_breaks_at_the_edge_and_ours_does_not():
    div = get_divergence("gan")
    v = torch.tensor([200.0])  # g_f(200) = -e^-200 rounds to -0 in float32
    assert not torch.isfinite(div.conjugate(div.activation(v))).all()  # -log(1 - exp(t)) at t = 0
    assert div.conjugate_of_activation(v).item() == pytest.approx(200.0)  # softplus(200)


def test_wright_omega_matches_scipy_and_has_the_implicit_gradient():
    x = torch.linspace(-50, 50, 401, dtype=torch.float64)
    want = torch.from_numpy(np.real(scipy.special.wrightomega(x.numpy())))
    torch.testing.assert_close(wright_omega(x), want, rtol=1e-12, atol=1e-300)
    xs = torch.linspace(-5, 5, 11, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(wright_omega, (xs,))


@pytest.mark.parametrize("name", NAMES)
def test_d_loss_maximised_over_a_free_critic_gives_the_discrete_divergence(name):
    """A critic that is a free table of V over 6 points: maximising F (minimising d_loss)
    must reach D_f(P||Q) = sum q f(p/q) with T = f'(p/q) at each point."""
    torch.manual_seed(0)
    p_counts = torch.tensor([1, 2, 3, 4, 5, 5])
    q_counts = torch.tensor([4, 4, 3, 3, 3, 3])
    p, q = p_counts / 20.0, q_counts / 20.0
    # minibatch means over these index lists are the exact expectations under P and Q
    idx_p = torch.repeat_interleave(torch.arange(6), p_counts)
    idx_q = torch.repeat_interleave(torch.arange(6), q_counts)
    div = get_divergence(name)
    obj = build_objective("fgan", {"divergence": name})
    V = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([V], lr=1, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = obj.d_loss(V[idx_p], V[idx_q])
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    truth = float((q * div.f(p / q)).sum())
    best = -float(obj.d_loss(V[idx_p], V[idx_q]).detach())
    assert best == pytest.approx(truth, abs=1e-4)
    T = div.activation(V.detach())
    want = div.f_prime(p / q).double()
    if name == "tv":  # T* = +-1/2 sits on the edge; only its sign where p != q is determined
        differ = p != q
        assert torch.equal(torch.sign(T[differ]), torch.sign(want[differ]))
    else:
        torch.testing.assert_close(T, want, atol=2e-3, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_saddle_generator_loss_moves_exactly_like_F(name):
    # G descends F; only E_Q f*(T) depends on G, so differences of g_loss equal differences of F
    obj = build_objective("fgan", {"divergence": name, "generator_loss": "saddle"})
    torch.manual_seed(1)
    real, f1, f2 = (torch.randn(32, dtype=torch.float64) * 0.5 for _ in range(3))
    F = lambda fake: -obj.d_loss(real, fake)
    assert float(obj.g_loss(f1) - obj.g_loss(f2)) == pytest.approx(float(F(f1) - F(f2)), abs=1e-12)


def test_alternative_generator_loss_by_hand():
    # paper's alternative: G maximises E_Q[g_f(V)]; GAN's g_f(0) = -log 2, KL's g_f(v) = v
    gan = build_objective("fgan", {"divergence": "gan"})
    assert float(gan.g_loss(torch.zeros(4))) == pytest.approx(math.log(2))
    kl = build_objective("fgan", {"divergence": "kl"})
    assert float(kl.g_loss(torch.tensor([1.0, 2.0, 3.0]))) == pytest.approx(-2.0)


def test_bad_options_are_one_config_error():
    with pytest.raises(ConfigError, match="objective.args"):
        build_objective("fgan", {"divergence": "nope"})
    with pytest.raises(ConfigError, match="objective.args"):
        build_objective("fgan", {"generator_loss": "both"})
    with pytest.raises(ConfigError, match="objective.args.lam"):
        build_objective("fgan", {"lam": 1})


def test_js_is_the_papers_f_whose_value_is_twice_the_jensen_shannon_divergence():
    # JSD = KL(P || M)/2 + KL(Q || M)/2 with M = (P + Q)/2, integrated on its own
    def half_kl_to_mixture(x: float) -> float:
        p, q = _normal_pdf(x, MU_P, SD_P), _normal_pdf(x, MU_Q, SD_Q)
        m = (p + q) / 2
        return 0.5 * (p * math.log(p / m) + q * math.log(q / m))

    jsd = _quad(half_kl_to_mixture)
    assert 0 < jsd < math.log(2)
    assert _divergence_by_quadrature("js") == pytest.approx(2 * jsd, rel=1e-8)
    assert get_divergence("jensen-shannon").label == "js (2·JSD)"  # what reports print
    assert get_divergence("kl").label == "kl"
