"""Operators: generate (sky, terrain, matte, previews), regenerate from a recipe, seeds, models.

Rendering runs in a worker thread (``jobs``) watched by a modal timer: the UI stays responsive,
Esc or the Cancel button stops it. Only this main thread touches bpy: the image is loaded and the
nodes are built after the worker is done, so a failed or cancelled render changes nothing. In
background mode (``blender -b``) the same job runs blocking.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy.types import Operator

from . import jobs, nodes, sunlamp
from .backend import (
    CancelFn,
    JobCancelled,
    JobFailed,
    OutpaintRequest,
    ProgressFn,
    RenderRequest,
    check_model,
    guarded,
    run_outpaint,
    run_request,
)
from .images import load_image
from .models import CLOUDS_PRESET, KIND_LABELS, NO_MODEL_HELP, ModelChoiceError, makes
from .physical import (
    Moment,
    PhysicalSkyRequest,
    SkyRecipeRequest,
    StripView,
    daylight_exposure,
    is_sky_file,
    run_physical_sky,
    run_sky_recipe,
    sun_lamp_of,
)
from .placement import camera_heading, place_matte_plane, place_strip_backdrop
from .preferences import (
    ADDON_ID,
    OutputFolderError,
    addon_preferences,
    listed_models,
    output_folder,
)
from .properties import MAX_SEED, settings

KIND_ITEMS = (
    ("SKY", "Sky", "A 360-degree equirect sky wired into the World"),
    ("TERRAIN", "Terrain", "A tileable texture in a material on the active object"),
    ("MATTE", "Matte Painting", "An extra-wide strip, optionally on a camera-facing plane"),
)
STRIP_FORMAT = {"PNG8": "png8", "EXR": "exr", "PNG16": "png16"}


PHYSICAL_HELP = {
    False: "Generate: a 1024x512 physical sky first, wired into the World with its Sun lamp in "
    "seconds, then the chosen size replaces it (EXR; the sun's disc is in the image only with "
    "Sun Lamp off)",
    True: "Preview: the physical sky at 1024x512 in the World, with its Sun lamp",
}
STRIP_HELP = {
    False: "Generate: the physical sky through the matte camera, a 1024-pixel-wide preview on "
    "the backdrop first, then the full strip replaces it (8-bit PNG by default)",
    True: "Preview: the physical sky through the matte camera, 1024 pixels wide, on the backdrop",
}


class SetupError(Exception):
    """The request cannot start (or its result cannot be placed); one line for the UI."""


class _JobOperator:
    """Runs ``make_request``'s render, then ``apply`` on the main thread.

    Invoked (a button, a shortcut) the render runs off the UI thread and the operator stays modal
    to poll it; executed (a script, background mode) it runs blocking, so the image is in place
    when the call returns. No redo panel ("REGISTER"): adjusting a finished render would re-run
    minutes of work, and a modal operator cannot be redone safely.
    """

    _job: jobs.RenderJob | None = None
    _timer: bpy.types.Timer | None = None
    runner = staticmethod(run_request)
    """Does the request's work in the worker: ``runner(request, progress, cancel) -> Path``."""
    progress_text = "Tile {done} of {total}"

    def make_request(
        self, context: bpy.types.Context
    ) -> RenderRequest | OutpaintRequest | PhysicalSkyRequest:
        raise NotImplementedError

    def work(self, request: RenderRequest | OutpaintRequest | PhysicalSkyRequest) -> jobs.Work:
        """What the worker runs for ``request``."""
        return functools.partial(self.runner, request)

    def show_offered(self, context: bpy.types.Context, path: Path) -> None:
        """Put a quick result the worker offered in place while the full one renders."""
        raise NotImplementedError

    def apply(self, context: bpy.types.Context, path: Path) -> str:
        raise NotImplementedError

    def invoke(self, context: bpy.types.Context, _event: bpy.types.Event) -> set[str]:
        return self._start(context, background=context.window is not None)

    def execute(self, context: bpy.types.Context) -> set[str]:
        return self._start(context, background=False)

    def _start(self, context: bpy.types.Context, background: bool) -> set[str]:
        if (running := jobs.active_job()) is not None:
            self.report(
                {"ERROR"},
                "The cancelled render is still stopping: try again in a moment"
                if running.cancel_requested
                else "A backdrop is already being generated: wait or cancel it",
            )
            return {"CANCELLED"}
        self._in_worker = background and not bpy.app.background
        try:
            request = self.make_request(context)
        except (SetupError, OutputFolderError, JobFailed, ModelChoiceError) as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        self._job = jobs.RenderJob(self.work(request))
        jobs.set_active(self._job)  # also while blocking: the Cancel operator is a script's hook
        if bpy.app.background or not background:
            self._job.run()
            return self._finish(context)
        self._job.start()
        wm = context.window_manager
        wm.endless_backdrops_progress = 0.0
        wm.endless_backdrops_status = "Starting (loading the model)"
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """Poll the worker; on Esc or Cancel return at once and let it stop on its own.

        The worker notices the cancel flag after its current tile batch and discards the file,
        so Blender is free again immediately and no image ever appears.
        """
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
        if job.cancel_requested and not job.finished:
            self._stop(context)
            self.report({"WARNING"}, "Cancelled: no image was written")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if (offered := job.take_offered()) is not None:
            try:
                self.show_offered(context, offered)
            except (SetupError, RuntimeError) as err:
                self.report({"WARNING"}, " ".join(str(err).split()))
        if not job.finished:
            self._show_progress(context, job)
            return {"PASS_THROUGH"}
        self._stop(context)
        return self._finish(context)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the modal (new file, window closed): stop the worker, it writes nothing."""
        if self._job is not None:
            self._job.cancel()
        self._stop(context)

    def _show_progress(self, context: bpy.types.Context, job: jobs.RenderJob) -> None:
        wm = context.window_manager
        wm.endless_backdrops_progress = job.fraction
        if job.total_tiles:
            wm.endless_backdrops_status = self.progress_text.format(
                done=job.done_tiles, total=job.total_tiles, percent=round(100 * job.fraction)
            )
        _redraw_panels(wm)

    def _stop(self, context: bpy.types.Context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.endless_backdrops_progress = 0.0
        wm.endless_backdrops_status = ""
        _redraw_panels(wm)
        if self._job is not None and not self._job.finished:
            bpy.app.timers.register(functools.partial(_redraw_when_done, self._job))

    def _finish(self, context: bpy.types.Context) -> set[str]:
        job = self._job
        if job.state is jobs.JobState.CANCELLED:
            self.report({"WARNING"}, "Cancelled: no image was written")
            return {"CANCELLED"}
        if job.state is not jobs.JobState.DONE:
            self.report({"ERROR"}, job.error or "the render did not finish")
            return {"CANCELLED"}
        try:
            message = self.apply(context, job.result)
        except (SetupError, RuntimeError) as err:
            self.report({"ERROR"}, " ".join(str(err).split()))
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}


def _redraw_panels(wm: bpy.types.WindowManager) -> None:
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in {"PROPERTIES", "VIEW_3D"}:
                area.tag_redraw()


def _redraw_when_done(job: jobs.RenderJob) -> float | None:
    """Timer: once a cancelled worker has stopped, redraw the panels that said 'stopping'."""
    if not job.finished:
        return 0.2
    _redraw_panels(bpy.context.window_manager)
    return None


def _all_model_paths(context: bpy.types.Context) -> tuple[str, ...]:
    """Every model: a recipe names its own (by hash), whichever kind it was made for."""
    paths = tuple(e.path for e in listed_models(context))
    if not paths:
        raise SetupError(NO_MODEL_HELP)
    return paths


def _out_dir(context: bpy.types.Context) -> str:
    return str(output_folder(context))


class EB_OT_generate(_JobOperator, Operator):
    bl_idname = "endless_backdrops.generate"
    bl_label = "Generate Backdrop"
    bl_options = frozenset({"UNDO"})

    kind: EnumProperty(name="Kind", items=KIND_ITEMS, default="SKY", options={"SKIP_SAVE"})
    preview: BoolProperty(
        name="Preview", description="A small canvas, quick to make", options={"SKIP_SAVE"}
    )

    @classmethod
    def description(cls, context: bpy.types.Context, properties: bpy.types.OperatorProperties):
        what = dict((k, d) for k, _n, d in KIND_ITEMS)[properties.kind]
        if properties.kind == "SKY" and settings(context).sky_source == "PHYSICAL":
            return PHYSICAL_HELP[properties.preview]
        if properties.kind == "MATTE" and settings(context).matte_source == "PHYSICAL":
            return STRIP_HELP[properties.preview]
        if properties.preview:
            return (
                f"Preview: the same settings on a small canvas (at most 512 pixels), placed like "
                f"the full render; shows the look, not the final layout. {what}"
            )
        return f"Generate: {what}"

    def make_request(self, context: bpy.types.Context) -> RenderRequest | PhysicalSkyRequest:
        props = settings(context)
        self._scene_name = context.scene.name
        self._physical = self.kind == "SKY" and props.sky_source == "PHYSICAL"
        self._strip = None
        if self._physical:
            return self._physical_request(context)
        if self.kind == "MATTE" and props.matte_source == "PHYSICAL":
            self._strip = self._strip_view(context)
            return self._physical_request(context, self._strip)
        if self.kind == "TERRAIN":
            obj = context.active_object
            if obj is None or obj.type != "MESH":
                raise SetupError("Select a mesh object to receive the terrain material")
            self._object_name = obj.name
        width, height = {
            "SKY": (props.sky_size(), props.sky_size() // 2),
            "TERRAIN": (props.terrain_size, props.terrain_size),
            "MATTE": (props.matte_width, props.matte_height),
        }[self.kind]
        return RenderRequest(
            kind=self.kind.lower(),
            model_paths=(props.model_for(self.kind.lower(), context).path,),
            out_dir=_out_dir(context),
            width=width,
            height=height,
            seed=props.seed,
            style_seeds=props.style_seeds(),
            device=props.device.lower(),
            file_format=props.file_format.lower(),
            preview=self.preview,
            detail=props.detail,
            sun=props.sun(),
        )

    def _strip_view(self, context: bpy.types.Context) -> StripView:
        """The Matte panel's strip of the physical sky, centred where the camera looks."""
        props = settings(context)
        heading = props.matte_heading
        if props.matte_face_camera:
            heading = camera_heading(context.scene, props.rotation)
        view = StripView(
            width=props.matte_width,
            height=props.matte_height,
            camera=props.matte_camera.lower(),
            fov=round(props.matte_fov, 4),  # the panel's float32s as a person typed them
            horizon=round(props.matte_horizon, 4),
            heading=round(heading, 4),
            file_format=STRIP_FORMAT[props.matte_format],
            exposure=round(props.matte_exposure, 3),
            tone=props.matte_tone.lower(),
        )
        try:
            view.check()
        except JobFailed as err:
            raise SetupError(str(err)) from None
        return view

    def _physical_request(
        self, context: bpy.types.Context, strip: StripView | None = None
    ) -> PhysicalSkyRequest:
        """The physical sky the panel describes (or its ``strip``); a cloud layer only with a
        cloud model. Bundled models are named, so the recipe finds them on another machine."""
        props = settings(context)
        cloud_model = ""
        if props.cloud_cover > 0.0 and props.has_model_for("clouds", context):
            cloud_model = props.model_for("clouds", context).reference
        moment = None
        if props.sun_mode == "PLACE":
            moment = Moment(
                props.sun_year, props.sun_month, props.sun_day, props.sun_hour,
                props.utc_offset, props.latitude, props.longitude,
            )  # fmt: skip
        ground = props.ground_source.lower()
        return PhysicalSkyRequest(
            out_dir=_out_dir(context),
            width=props.sky_size(),
            sun_azimuth=props.sun_azimuth,
            sun_elevation=props.sun_elevation,
            moment=moment,
            haze=props.haze,
            altitude=props.altitude,
            disc=not props.use_sun_lamp,
            cloud_model=cloud_model,
            cloud_cover=props.cloud_cover,
            cloud_styles=props.style_seeds() or (props.cloud_style,),
            cloud_altitude=props.cloud_altitude,
            cloud_clustering=props.cloud_clustering,
            cloud_edges=props.cloud_edges,
            cirrus=props.cirrus,
            seed=props.seed,
            ground=ground,
            ground_model=props.model_for("ground", context).reference if ground == "model" else "",
            ground_colour=tuple(props.ground_colour),
            hills=props.horizon_hills,
            device=props.device.lower(),
            preview=self.preview,
            quick_first=self._in_worker,
            strip=strip,
        )

    def work(self, request: RenderRequest | PhysicalSkyRequest) -> jobs.Work:
        if not isinstance(request, PhysicalSkyRequest):
            return super().work(request)

        def sky(progress: ProgressFn, cancel: CancelFn) -> Path:
            return run_physical_sky(request, progress, cancel, offer=self._job.offer)

        return sky

    def show_offered(self, context: bpy.types.Context, path: Path) -> None:
        if self._strip is not None:
            self._place_strip(context, path)
        else:
            self._place_sky(context, path)

    def _place_strip(self, context: bpy.types.Context, path: Path) -> bpy.types.Image:
        """The strip on its backdrop (when asked): at its true angles from the camera."""
        scene = bpy.data.scenes.get(self._scene_name) or context.scene
        props = scene.endless_backdrops
        image = load_image(path)
        if props.matte_plane:
            place_strip_backdrop(scene, image, self._strip, props.matte_distance, props.rotation)
        return image

    def _place_sky(self, context: bpy.types.Context, path: Path) -> bpy.types.Image:
        """The sky in the World; a physical one with its Sun lamp, or its disc and no lamp."""
        scene = bpy.data.scenes.get(self._scene_name) or context.scene
        props = scene.endless_backdrops
        image = load_image(path)
        if scene.world is None:
            scene.world = bpy.data.worlds.new("EB Sky")
        nodes.wire_world(scene.world, image, props.strength, props.rotation)
        if self._physical and props.use_sun_lamp:
            sunlamp.place_sun_lamp(scene, sun_lamp_of(path), props.rotation)
        elif self._physical:
            sunlamp.remove_sun_lamp(scene)
        if self._physical and props.auto_exposure:
            scene.view_settings.exposure = daylight_exposure(path)
        return image

    def apply(self, context: bpy.types.Context, path: Path) -> str:
        scene = bpy.data.scenes.get(self._scene_name) or context.scene
        props = scene.endless_backdrops
        if self.kind == "SKY":
            image = self._place_sky(context, path)
        elif self._strip is not None:
            image = self._place_strip(context, path)
        else:
            image = load_image(path)
            if self.kind == "TERRAIN":
                obj = bpy.data.objects.get(self._object_name)
                if obj is None:
                    raise SetupError(f"The object {self._object_name} is gone; the image is {path}")
                nodes.build_terrain_material(obj, image, props.terrain_tiling)
            elif props.matte_plane:
                place_matte_plane(scene, image, props.matte_distance)
        if self.preview:
            props.preview_image = image
            if not bpy.app.background:
                image.preview_ensure()
            return f"Preview {image.size[0]}x{image.size[1]} ready"
        props.recipe_image = image
        return f"Saved {path}"


class EB_OT_regenerate(_JobOperator, Operator):
    bl_idname = "endless_backdrops.regenerate"
    bl_label = "Regenerate from Recipe"
    bl_description = (
        "Re-render the recipe embedded in an image we generated, at the same or a larger size, "
        "and put the new image wherever the old one was used"
    )
    bl_options = frozenset({"UNDO"})

    image_name: StringProperty(
        name="Image", description="Image to read the recipe from (default: the panel's)"
    )

    def make_request(self, context: bpy.types.Context) -> RenderRequest:
        props = settings(context)
        image = bpy.data.images.get(self.image_name) if self.image_name else props.recipe_image
        if image is None or not image.filepath:
            raise SetupError("Choose an image generated by Endless Backdrops (saved to a file)")
        self._source_name = image.name
        self._scene_name = context.scene.name
        self._composed = False
        self._strip_format = STRIP_FORMAT[props.matte_format]
        return RenderRequest(
            kind=None,
            model_paths=_all_model_paths(context),
            out_dir=_out_dir(context),
            device=props.device.lower(),
            file_format=props.file_format.lower(),
            recipe_path=bpy.path.abspath(image.filepath),
            scale=int(props.recipe_scale),
        )

    def work(self, request: RenderRequest) -> jobs.Work:
        """A composed sky's recipe (physical sky, matte strip) or a learned render's: which
        one the file holds is read in the worker (it imports the generator)."""

        def regenerate(progress: ProgressFn, cancel: CancelFn) -> Path:
            check = functools.partial(is_sky_file, request.recipe_path)
            if not guarded(lambda *_: check(), None, None, None):
                return run_request(request, progress, cancel)
            self._composed = True
            again = SkyRecipeRequest(
                recipe_path=request.recipe_path,
                out_dir=request.out_dir,
                scale=request.scale,
                strip_format=self._strip_format,
                device=request.device,
            )
            return run_sky_recipe(again, progress, cancel)

        return regenerate

    def apply(self, context: bpy.types.Context, path: Path) -> str:
        image = load_image(path)
        old = bpy.data.images.get(self._source_name)
        if old is not None and old != image:
            old.user_remap(image)
        scene = bpy.data.scenes.get(self._scene_name) or context.scene
        scene.endless_backdrops.recipe_image = image
        if self._composed:
            self._relight(scene, path)
        return f"Saved {path}"

    @staticmethod
    def _relight(scene: bpy.types.Scene, path: Path) -> None:
        """A 360-degree composed sky brings its Sun lamp (or, with the disc in the image, none
        of ours) and, with Set Exposure, its exposure, as Generate does; a strip lights
        nothing."""
        from generator import read_sky_recipe

        props = scene.endless_backdrops
        recipe = read_sky_recipe(path)
        if recipe.camera is not None:
            return
        if recipe.composition.sky.sun_disc:
            sunlamp.remove_sun_lamp(scene)
        else:
            sunlamp.place_sun_lamp(scene, sun_lamp_of(path), props.rotation)
        if props.auto_exposure:
            scene.view_settings.exposure = daylight_exposure(path)


class EB_OT_extend_image(_JobOperator, Operator):
    bl_idname = "endless_backdrops.extend_image"
    bl_label = "Extend Image"
    bl_description = (
        "Extend a photo with the chosen model: a wider matte painting, or a 360-degree sky around "
        "it wired into the World. The model learns to redraw the photo first (a minute or more), "
        "then paints the rest; the photo's own pixels are kept"
    )
    bl_options = frozenset({"UNDO"})
    runner = staticmethod(run_outpaint)
    progress_text = "{percent}% (learning the photo, then painting around it)"

    image_name: StringProperty(
        name="Image", description="Photo to extend (default: the Image Editor's, else the panel's)"
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return jobs.active_job() is None

    def make_request(self, context: bpy.types.Context) -> OutpaintRequest:
        props = settings(context)
        image = self._source_image(context)
        if image is None or not image.filepath:
            raise SetupError("Open a photo saved to a file (JPEG, PNG, TIFF, EXR) to extend it")
        self._scene_name = context.scene.name
        self._area_image = getattr(context.space_data, "type", "") == "IMAGE_EDITOR"
        return OutpaintRequest(
            photo_path=bpy.path.abspath(image.filepath),
            sky=props.extend_sky,
            model_paths=(props.model_for("sky" if props.extend_sky else "matte", context).path,),
            out_dir=_out_dir(context),
            factor=props.extend_factor,
            seed=props.seed,
            device=props.device.lower(),
            file_format=props.file_format.lower(),
        )

    def _source_image(self, context: bpy.types.Context) -> bpy.types.Image | None:
        if self.image_name:
            return bpy.data.images.get(self.image_name)
        space = context.space_data
        if getattr(space, "type", "") == "IMAGE_EDITOR" and space.image is not None:
            return space.image
        return settings(context).recipe_image

    def apply(self, context: bpy.types.Context, path: Path) -> str:
        scene = bpy.data.scenes.get(self._scene_name) or context.scene
        props = scene.endless_backdrops
        image = load_image(path)
        if props.extend_sky:
            if scene.world is None:
                scene.world = bpy.data.worlds.new("EB Sky")
            nodes.wire_world(scene.world, image, props.strength, props.rotation)
        space = context.space_data
        if self._area_image and getattr(space, "type", "") == "IMAGE_EDITOR":
            space.image = image
        props.recipe_image = image
        return f"Saved {path}"


def draw_image_menu(self, _context: bpy.types.Context) -> None:
    self.layout.separator()
    self.layout.operator(EB_OT_extend_image.bl_idname, icon="FULLSCREEN_ENTER")


class EB_OT_cancel(Operator):
    bl_idname = "endless_backdrops.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the running render; no image is written"

    @classmethod
    def poll(cls, _context: bpy.types.Context) -> bool:
        return jobs.active_job() is not None

    def execute(self, _context: bpy.types.Context) -> set[str]:
        jobs.cancel_active()
        return {"FINISHED"}


class EB_OT_random_seed(Operator):
    bl_idname = "endless_backdrops.random_seed"
    bl_label = "Random Seed"
    bl_description = "Roll the dice for a new picture"
    bl_options = frozenset({"REGISTER", "UNDO"})

    styles: BoolProperty(name="Styles", description="Roll the style seeds instead")

    def execute(self, context: bpy.types.Context) -> set[str]:
        props = settings(context)
        if self.styles:
            props.fusion_seeds = [random.randint(0, MAX_SEED) for _ in range(4)]
        else:
            props.seed = random.randint(0, MAX_SEED)
        return {"FINISHED"}


class EB_OT_model_add(Operator):
    bl_idname = "endless_backdrops.model_add"
    bl_label = "Add Model File"
    bl_description = "Add an Endless Backdrops model (.safetensors) to the model list"

    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})
    filter_glob: StringProperty(default="*.safetensors", options={"HIDDEN"})

    def invoke(self, context: bpy.types.Context, _event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = addon_preferences(context)
        path = Path(bpy.path.abspath(self.filepath))
        if prefs is None:
            self.report({"ERROR"}, "Enable the Endless Backdrops add-on first")
            return {"CANCELLED"}
        if path.suffix.lower() != ".safetensors" or not path.is_file():
            self.report({"ERROR"}, f"Not a model file (.safetensors): {path}")
            return {"CANCELLED"}
        try:  # loaded as a render loads it: a broken file is refused now, not at its first use
            config = check_model(str(path)).config
        except JobCancelled:
            return {"CANCELLED"}
        except JobFailed as err:
            self.report({"ERROR"}, f"Not added: {err}")
            return {"CANCELLED"}
        prefs.model_paths.add().filepath = str(path)
        context.preferences.is_dirty = True
        clouds = config.extra.get("preset") == CLOUDS_PRESET
        kinds = [k for k in KIND_LABELS if makes(k, config.vertical_conditioning, clouds)]
        for kind in kinds:  # chosen wherever it can be used: adding a model means using it
            setattr(settings(context), f"{kind}_model_key", str(path.resolve()))
        self.report({"INFO"}, f"Added {path.stem} for {', '.join(KIND_LABELS[k] for k in kinds)}")
        return {"FINISHED"}


class EB_OT_model_remove(Operator):
    bl_idname = "endless_backdrops.model_remove"
    bl_label = "Remove Model"
    bl_description = "Remove this model from the list (the file stays on disk)"

    index: IntProperty()

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = addon_preferences(context)
        if prefs is not None and 0 <= self.index < len(prefs.model_paths):
            prefs.model_paths.remove(self.index)
            context.preferences.is_dirty = True
        return {"FINISHED"}


class EB_OT_open_preferences(Operator):
    bl_idname = "endless_backdrops.open_preferences"
    bl_label = "Open Preferences"
    bl_description = "Show the add-on's preferences (models, output folder)"

    def execute(self, _context: bpy.types.Context) -> set[str]:
        bpy.ops.preferences.addon_show(module=ADDON_ID)
        return {"FINISHED"}


CLASSES = (
    EB_OT_generate,
    EB_OT_regenerate,
    EB_OT_extend_image,
    EB_OT_cancel,
    EB_OT_random_seed,
    EB_OT_model_add,
    EB_OT_model_remove,
    EB_OT_open_preferences,
)

_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()
    bpy.types.IMAGE_MT_image.append(draw_image_menu)


def unregister() -> None:
    bpy.types.IMAGE_MT_image.remove(draw_image_menu)
    _unregister_classes()
