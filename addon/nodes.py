"""Node setups for the generated images: the World sky, the terrain and the matte materials.

Our nodes are named "EB ..." and our materials carry the custom property ``endless_backdrops``;
a regenerate finds and reuses them, never touches other nodes, and only relinks the sockets it
is asked to drive (e.g. the World Output's Surface). Node positions are set on creation only, so a
user's layout survives.
"""

from __future__ import annotations

import bpy

TAG = "endless_backdrops"
"""Custom property on materials and objects we made; its value is the kind ('terrain', 'matte')."""

SKY_COORDS = "EB Sky Coordinates"
SKY_MAPPING = "EB Sky Mapping"
SKY_TEXTURE = "EB Sky Texture"
SKY_BACKGROUND = "EB Sky Background"
TERRAIN_COORDS = "EB Terrain Coordinates"
TERRAIN_MAPPING = "EB Terrain Mapping"
TERRAIN_TEXTURE = "EB Terrain Texture"
TERRAIN_BSDF = "EB Terrain BSDF"
MATTE_COORDS = "EB Matte Coordinates"
MATTE_TEXTURE = "EB Matte Texture"
MATTE_EMISSION = "EB Matte Emission"
MATTE_TRANSPARENT = "EB Matte Transparent"
MATTE_MIX = "EB Matte Alpha"
OUTPUT = "EB Output"


def _tree(idblock: bpy.types.World | bpy.types.Material) -> bpy.types.NodeTree:
    """The node tree, switched on: in Blender 4.x a World or material can hold a tree while
    "Use Nodes" is off, and then renders its flat colour, ignoring our nodes (5.0 always uses
    them and deprecates the flag)."""
    if idblock.node_tree is None or bpy.app.version < (5, 0, 0):
        idblock.use_nodes = True
    return idblock.node_tree


def _output(tree: bpy.types.NodeTree, idname: str) -> bpy.types.Node:
    """The active output node, or a new one when the tree has none."""
    for node in tree.nodes:
        if node.bl_idname == idname and node.is_active_output:
            return node
    existing = [n for n in tree.nodes if n.bl_idname == idname]
    return existing[0] if existing else _node(tree, OUTPUT, idname, (300, 0))


def _node(
    tree: bpy.types.NodeTree,
    name: str,
    idname: str,
    location: tuple[float, float],
) -> bpy.types.Node:
    """Our node called ``name`` (created at ``location`` when missing)."""
    node = tree.nodes.get(name)
    if node is not None and node.bl_idname != idname:
        tree.nodes.remove(node)
        node = None
    if node is None:
        node = tree.nodes.new(idname)
        node.name = node.label = name
        node.location = location
    return node


def _link(tree: bpy.types.NodeTree, source: bpy.types.NodeSocket, target: bpy.types.NodeSocket):
    if not any(link.from_socket == source for link in target.links):
        tree.links.new(source, target)


def _left_of(node: bpy.types.Node, dx: float) -> tuple[float, float]:
    return node.location.x - dx, node.location.y


def wire_world(
    world: bpy.types.World, image: bpy.types.Image, strength: float, rotation: float
) -> None:
    """Texture Coordinate -> Mapping -> Environment Texture -> Background -> World Output."""
    tree = _tree(world)
    output = _output(tree, "ShaderNodeOutputWorld")
    coords = _node(tree, SKY_COORDS, "ShaderNodeTexCoord", _left_of(output, 1100))
    mapping = _node(tree, SKY_MAPPING, "ShaderNodeMapping", _left_of(output, 900))
    texture = _node(tree, SKY_TEXTURE, "ShaderNodeTexEnvironment", _left_of(output, 600))
    background = _node(tree, SKY_BACKGROUND, "ShaderNodeBackground", _left_of(output, 250))
    texture.image = image
    texture.projection = "EQUIRECTANGULAR"
    _link(tree, coords.outputs["Generated"], mapping.inputs["Vector"])
    _link(tree, mapping.outputs["Vector"], texture.inputs["Vector"])
    _link(tree, texture.outputs["Color"], background.inputs["Color"])
    _link(tree, background.outputs["Background"], output.inputs["Surface"])
    set_world_look(world, strength, rotation)


def set_world_look(world: bpy.types.World, strength: float, rotation: float) -> None:
    """Background strength and rotation about the vertical axis, if our nodes are there."""
    tree = world.node_tree
    if tree is None:
        return
    if (background := tree.nodes.get(SKY_BACKGROUND)) is not None:
        background.inputs["Strength"].default_value = strength
    if (mapping := tree.nodes.get(SKY_MAPPING)) is not None:
        mapping.inputs["Rotation"].default_value[2] = rotation


def _own_material(name: str, kind: str) -> bpy.types.Material:
    """A new, empty node material tagged as ours."""
    material = bpy.data.materials.new(name)
    material[TAG] = kind
    tree = _tree(material)
    tree.nodes.clear()
    return material


def _assign(obj: bpy.types.Object, material: bpy.types.Material) -> None:
    """Put ``material`` in the active slot (a new slot when there is none).

    A user's material it replaces gets a fake user, so saving the file does not drop it.
    """
    if not obj.material_slots:
        obj.data.materials.append(material)
        return
    slot = obj.material_slots[obj.active_material_index]
    if slot.material is not None and slot.material != material:
        slot.material.use_fake_user = True
    slot.material = material


def terrain_material(obj: bpy.types.Object) -> bpy.types.Material | None:
    """Our terrain material in the object's active slot, if it is there."""
    material = obj.active_material
    return material if material is not None and material.get(TAG) == "terrain" else None


def build_terrain_material(
    obj: bpy.types.Object, image: bpy.types.Image, tiling: float
) -> bpy.types.Material:
    """Texture Coordinate -> Mapping (tiling) -> Image Texture (repeat) -> Principled BSDF."""
    material = terrain_material(obj) or _own_material(f"EB Terrain {obj.name}", "terrain")
    tree = _tree(material)
    output = _output(tree, "ShaderNodeOutputMaterial")
    coords = _node(tree, TERRAIN_COORDS, "ShaderNodeTexCoord", _left_of(output, 1100))
    mapping = _node(tree, TERRAIN_MAPPING, "ShaderNodeMapping", _left_of(output, 900))
    texture = _node(tree, TERRAIN_TEXTURE, "ShaderNodeTexImage", _left_of(output, 600))
    bsdf = _node(tree, TERRAIN_BSDF, "ShaderNodeBsdfPrincipled", _left_of(output, 300))
    texture.image = image
    texture.extension = "REPEAT"
    has_uv = obj.type == "MESH" and len(obj.data.uv_layers) > 0
    _link(tree, coords.outputs["UV" if has_uv else "Generated"], mapping.inputs["Vector"])
    _link(tree, mapping.outputs["Vector"], texture.inputs["Vector"])
    _link(tree, texture.outputs["Color"], bsdf.inputs["Base Color"])
    _link(tree, bsdf.outputs["BSDF"], output.inputs["Surface"])
    set_terrain_tiling(obj, tiling, material)
    _assign(obj, material)
    return material


def set_terrain_tiling(
    obj: bpy.types.Object, tiling: float, material: bpy.types.Material | None = None
) -> None:
    material = material or terrain_material(obj)
    mapping = material.node_tree.nodes.get(TERRAIN_MAPPING) if material is not None else None
    if mapping is not None:
        mapping.inputs["Scale"].default_value = (tiling, tiling, 1.0)


def build_matte_material(
    obj: bpy.types.Object, image: bpy.types.Image, interpolation: str = "Linear"
) -> bpy.types.Material:
    """UV -> Image Texture (clamped) -> Emission, mixed with Transparent by the image's alpha:
    the painting shows as is, whatever the lights, and a strip without ground (an alpha
    channel) lets what stands behind it show below its horizon."""
    material = obj.active_material
    if material is None or material.get(TAG) != "matte":
        material = _own_material(f"EB Matte {obj.name}", "matte")
    tree = _tree(material)
    output = _output(tree, "ShaderNodeOutputMaterial")
    coords = _node(tree, MATTE_COORDS, "ShaderNodeTexCoord", _left_of(output, 800))
    texture = _node(tree, MATTE_TEXTURE, "ShaderNodeTexImage", _left_of(output, 550))
    emission = _node(tree, MATTE_EMISSION, "ShaderNodeEmission", _left_of(output, 400))
    below = (output.location.x - 400, output.location.y - 150)
    clear = _node(tree, MATTE_TRANSPARENT, "ShaderNodeBsdfTransparent", below)
    mix = _node(tree, MATTE_MIX, "ShaderNodeMixShader", _left_of(output, 200))
    texture.image = image
    texture.extension = "EXTEND"
    texture.interpolation = interpolation
    _link(tree, coords.outputs["UV"], texture.inputs["Vector"])
    _link(tree, texture.outputs["Color"], emission.inputs["Color"])
    _link(tree, texture.outputs["Alpha"], mix.inputs["Fac"])
    _link(tree, clear.outputs["BSDF"], mix.inputs[1])
    _link(tree, emission.outputs["Emission"], mix.inputs[2])
    _link(tree, mix.outputs["Shader"], output.inputs["Surface"])
    _assign(obj, material)
    return material
