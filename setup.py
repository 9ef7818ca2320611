"""Build step: the wheel carries the bundled files of data/ as thygan/_data (see thygan/bundled.py).
Everything else about the package is declared in setup.cfg."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# Relative to data/; the tiles users cut into data/sample/ stay out.
BUNDLED_FILES = ["sample/CMU-1-Small-Region.svs", "sample/annotations.geojson", "sample/README.md",
                 "pipelines/*.yaml", "gan_params/*.json"]


class BuildWithBundledData(build_py):
    """Copy data/<BUNDLED_FILES> into the built package; an editable install reads data/ in place."""

    def run(self):
        super().run()
        if self.editable_mode:
            return
        for pattern in BUNDLED_FILES:
            for source in sorted(Path("data").glob(pattern)):
                target = Path(self.build_lib, "thygan", "_data", source.relative_to("data"))
                self.mkpath(str(target.parent))
                self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildWithBundledData})
