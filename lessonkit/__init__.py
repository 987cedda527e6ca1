"""lessonkit: the companion package of the course "CNNs for Computer Vision".

The public interface is every name below, used in the lessons as ``lk.<name>``
(``import lessonkit as lk``). Each name is defined once, in the module of the
lesson that first uses it, and its docstring says which lesson that is
("Introduced in lesson NN"). Each module's ``__all__`` is its curated list of
public names; this file gathers them, so no name is listed twice. Lessons use
``lk.<name>`` only and never import from a submodule (``tests/test_conventions.py``
checks both).

======================  ==========================================================
module                  concept (first lesson)
======================  ==========================================================
``profile``             profiles, devices and seeds (00)
``progress``            progress bars that regression checks do not see (00)
``notebook``            numbers glued into the prose, and their checks (00, 11)
``data``                datasets: cache → offline mirror → official download (00)
``train``               the training loop, evaluation, top-k accuracy (00)
``models``              the MLP baseline and small CNNs (00)
``plot``                image grids, learning curves (00)
``conv``                convolution from scratch and its shape formulas (01)
``kernels``             hand-made kernels and Gabor banks (01, 02)
``featuremaps``         figures of kernels and feature maps (01)
``interactive``         interactive demos that stay visible in the static book (01)
``summary``             parameter and multiply-add counts (02, 03)
``receptive``           receptive fields, computed and measured (03)
``layers``              batch norm and dropout from scratch (04)
``metrics``             top-k error, confusion matrix (04); comparing two classifiers (02)
``lightning``           the same training in PyTorch Lightning, optional (04)
``shift``               shifting images and measuring the effect (05)
``augment``             batched augmentation, MixUp, CutMix, colour jitter (04, 06, 07, 11)
``architectures``       LeNet to ConvNeXt (08)
``alexnet_augment``     AlexNet's crops and PCA colour lighting (08)
``cifar``               the CIFAR-10 network trained from scratch (10)
``fastcifar``           the fast-training recipe: CIFAR-10 to 94 % cheaply (10)
``interpret``           looking inside a trained CNN (09)
``pretrained``          pretrained backbones and transfer learning (09, 12)
``retrieval``           similarity search and its metrics (13)
``app``                 the "find similar images" app (13)
``selfcheck``           self-checks for the exercises and the homework, ``lk.check`` (00-13)
======================  ==========================================================
"""

from . import (
    alexnet_augment,
    app,
    architectures,
    augment,
    cifar,
    conv,
    data,
    fastcifar,
    featuremaps,
    interactive,
    interpret,
    kernels,
    layers,
    lightning,
    metrics,
    models,
    notebook,
    plot,
    pretrained,
    receptive,
    retrieval,
    shift,
    summary,
    train,
)
from . import profile as _profile_module
from . import progress as _progress_module
from .alexnet_augment import *  # noqa: F403
from .app import *  # noqa: F403
from .architectures import *  # noqa: F403
from .augment import *  # noqa: F403
from .cifar import *  # noqa: F403
from .conv import *  # noqa: F403
from .data import *  # noqa: F403
from .fastcifar import *  # noqa: F403
from .featuremaps import *  # noqa: F403
from .interactive import *  # noqa: F403
from .interpret import *  # noqa: F403
from .kernels import *  # noqa: F403
from .layers import *  # noqa: F403
from .lightning import *  # noqa: F403
from .metrics import *  # noqa: F403
from .models import *  # noqa: F403
from .notebook import *  # noqa: F403
from .plot import *  # noqa: F403
from .pretrained import *  # noqa: F403
from .profile import *  # noqa: F403
from .progress import *  # noqa: F403
from .receptive import *  # noqa: F403
from .retrieval import *  # noqa: F403
from . import selfcheck
from .selfcheck import *  # noqa: F403
from .shift import *  # noqa: F403
from .summary import *  # noqa: F403
from .train import *  # noqa: F403

__version__ = "0.1.0"

#: The modules whose ``__all__`` make up the public interface, in the order above.
MODULES = (
    _profile_module,
    _progress_module,
    notebook,
    data,
    train,
    models,
    plot,
    conv,
    kernels,
    featuremaps,
    interactive,
    summary,
    receptive,
    layers,
    metrics,
    lightning,
    shift,
    augment,
    architectures,
    alexnet_augment,
    cifar,
    fastcifar,
    interpret,
    pretrained,
    retrieval,
    app,
    selfcheck,
)

__all__ = [name for module in MODULES for name in module.__all__]
