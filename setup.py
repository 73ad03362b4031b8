"""Put the top-level templates/ into the wheel as feeds/templates/.

The repository keeps one copy of the default templates, in templates/, where
people read and edit them; every file there (any name, any subfolder) ships
with the package, so a new page or mail template needs no change here.
Everything else about the package is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TEMPLATES = Path(__file__).resolve().parent / "templates"


class BuildWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "feeds" / "templates"
        shutil.rmtree(target, ignore_errors=True)  # a template deleted here must not ship
        for source in sorted(TEMPLATES.rglob("*")):
            if source.is_file():
                destination = target / source.relative_to(TEMPLATES)
                self.mkpath(str(destination.parent))
                self.copy_file(str(source), str(destination))


setup(cmdclass={"build_py": BuildWithTemplates})
