"""The one packaging rule pyproject.toml cannot express (everything else is there).

templates/, static/ and migrations/ live at the top of the repository, beside idp/ (the
layout in docs/architecture.md). An installed wheel has no repository around it, so the wheel
carries them inside the package, as idp/templates, idp/static and idp/migrations;
idp.settings.RESOURCE_ROOT finds them in either place.
"""

from setuptools import find_namespace_packages, setup

TOP_LEVEL_FOLDERS = {"idp.templates": "templates", "idp.static": "static", "idp.migrations": "migrations"}

# Namespace discovery: folders that hold only data (translations/, templates/email/) are
# "packages" to setuptools, and listing them is what keeps their files in the wheel.
packages = find_namespace_packages(include=["idp", "idp.*"])
for package, folder in TOP_LEVEL_FOLDERS.items():
    packages += [package] + [f"{package}.{sub}" for sub in find_namespace_packages(where=folder)]

setup(packages=packages, package_dir=TOP_LEVEL_FOLDERS)
