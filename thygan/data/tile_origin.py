"""Where a tile came from: its slide, the resolution it was cut at and its place in level-0 pixels.

``sample-tiles`` and ``split-dataset`` store the origins under their own ``dataset.json`` key,
``"origins": {"<fname>": {"slide": ..., "x": ..., "y": ..., "size": ..., ...}}``, beside the
reference's ``labels`` and the study's ``meta`` rows, which stay exactly ``[fname, label, patient,
diagnosis]`` (the study's scripts unpack four items), so StyleGAN and the study's tools read the
file as before. A folder written while the origin was a fifth ``meta`` entry still reads (see
:func:`thygan.data.labels.read_labels_json`); that form is never written. Coordinates are level-0
pixels (x right, y down), the frame of QuPath's GeoJSON and of the annotations the tiles were
labelled from, whatever the level or magnification the tile was cut at: ``size`` level-0 pixels
became ``size / downsample`` tile pixels.
"""

from dataclasses import asdict, dataclass, fields

from thygan.errors import UserError


@dataclass(frozen=True)
class TileOrigin:
    """One tile's source region."""

    slide: str                          # source file: '/'-separated path under the tiled folder, or its name
    x: int                              # left edge, level-0 px
    y: int                              # top edge, level-0 px
    size: int                           # side, level-0 px
    downsample: float = 1.0             # level-0 px per tile px
    level: int | None = None            # pyramid level read without resampling; None = resampled
    magnification: float | None = None  # objective power of the tile's pixels, when the slide records it
    mpp: float | None = None            # microns per tile pixel, when the slide records it

    def to_json(self) -> dict:
        """The ``origins`` entry: every field, None included, so the keys never vary."""
        return asdict(self)

    @classmethod
    def from_json(cls, value, where: str) -> "TileOrigin":
        """Read one ``origins`` entry; ``where`` names the file and tile for the error message."""
        names = {field.name for field in fields(cls)}
        if not isinstance(value, dict) or not {"slide", "x", "y", "size"} <= set(value) or set(value) - names:
            raise UserError(f"{where}: expected a tile origin {{slide, x, y, size, ...}}, got {value!r}")
        numbers = [value[key] for key in ("x", "y", "size")]
        if not isinstance(value["slide"], str) or not all(isinstance(n, int) and not isinstance(n, bool)
                                                         for n in numbers):
            raise UserError(f"{where}: tile origin needs a slide name and integer x, y, size, got {value!r}")
        return cls(**value)

    def ring(self) -> list[list[int]]:
        """The outline as a closed GeoJSON ring in level-0 px, clockwise on screen (y down)."""
        x0, y0, x1, y1 = self.x, self.y, self.x + self.size, self.y + self.size
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def origins_json(origins: dict[str, TileOrigin]) -> dict[str, dict]:
    """The ``origins`` value: tile file name -> :meth:`TileOrigin.to_json`, in the given order."""
    return {name: origin.to_json() for name, origin in origins.items()}


def read_origins(value, where: str) -> dict[str, TileOrigin]:
    """Parse an ``origins`` value (tile file name -> origin); ``where`` names the file for errors."""
    if not isinstance(value, dict):
        raise UserError(f"{where}: 'origins' must map tile file names to origins, got {type(value).__name__}")
    return {str(name): TileOrigin.from_json(entry, f"{where}: {name}") for name, entry in value.items()}
