"""Networks. Each is a plain ``torch.nn.Module``; generators take ``(z, y=None)`` and return
images shaped like the data, discriminators take ``(x, y=None)`` and return one logit per
example (D(x) = sigmoid(logit)). ``y`` carries class labels for conditional models."""
from gankit.nets.registry import NETS, build_net, register_net

# The built-in nets register themselves on import.
from gankit.nets import conditional, dcgan, goodfellow2014, mirza, mlp, oned, pix2pix, ssl, toy  # noqa: F401

__all__ = ["NETS", "build_net", "register_net"]
