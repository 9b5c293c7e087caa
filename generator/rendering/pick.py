"""The one place that picks the renderer for a model and a recipe.

- ``SphereRenderer`` (``generator.rendering.sphere``): an equirect recipe with a sky model
  (``ModelConfig.sphere``): its native sphere, super-resolved and resampled to the requested size,
  the poles softened and the recipe's sun added.
- ``ScaledRenderer`` (``generator.rendering.scaled``): a flat canvas at ``scale`` above 1: the
  native canvas, doubled by the model's super-resolution stage.
- ``CanvasRenderer`` (``generator.rendering.render``): any other canvas, at the native scale, by
  independent tiles.

All three are ``BandRenderer``s with the same interface (``bands()``, ``render()``,
``output_shape``, ``total_tiles``), so ``render_to_file``, ``render_array``, several processes
(``generator.rendering.parallel``) and the learned layers of a composed sky take whichever this
returns.
"""

from __future__ import annotations

from generator.errors import RequestError
from generator.files.modelfile import LoadedModel
from generator.files.recipe import Recipe
from generator.rendering.render import BandRenderer, CanvasRenderer, is_sphere_request
from generator.rendering.scaled import ScaledRenderer
from generator.rendering.sphere import SphereRenderer


def make_renderer(model: LoadedModel, recipe: Recipe, **options) -> BandRenderer:
    """The renderer for this model and recipe; ``options`` are ``CanvasRenderer``'s."""
    if is_sphere_request(model, recipe):
        return SphereRenderer(model, recipe, **options)
    if recipe.sun is not None:
        raise RequestError("a sun is drawn into 360-degree skies of sky models only")
    if recipe.scale > 1 and model.config.alpha:
        raise RequestError(
            "a model with alpha (a landscape band) renders at its native scale only: no scale"
        )
    if recipe.scale > 1:
        return ScaledRenderer(model, recipe, **options)
    return CanvasRenderer(model, recipe, **options)
