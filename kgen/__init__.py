"""kgen: generative image models for Keras 3.

Every model is a ``keras.Model`` with its own training step, trained with
``model.fit()`` and sampled with ``model.generate()``, on the TensorFlow, JAX
and PyTorch backends.

Example:

```python
import kgen

x = kgen.data.load("digits")
model = kgen.models.GAN.from_shape(x.shape[1:])
model.compile()
model.fit(kgen.data.images(x), epochs=1)
kgen.images.save_grid(model.generate(16, seed=0), "samples.png")
```
"""

__version__ = "0.1.0"

from kgen import (  # noqa: E402,F401
    callbacks,
    clip_guidance,
    data,
    images,
    latent,
    losses,
    metrics,
    models,
    networks,
    precision,
    samplers,
)
from kgen.distribute import (  # noqa: E402,F401
    DistributedScope, Processes, distribute, initialize_processes, processes)
