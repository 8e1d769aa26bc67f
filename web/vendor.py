"""Third-party browser code the project serves from its own static files.

Each file is byte-identical to the one in its npm package (``npm pack
NAME@VERSION``); ``tests/web/test_static.py`` checks the checksums below, that
every package directory carries its licence, and that no page loads anything
from another host. ``web/static/vendor/README.md`` says why each was chosen and
how to update it.
"""

#: Static path -> SHA-256 of the file as published on npm.
VENDORED_FILES: dict[str, str] = {
    "vendor/chart.js-4.6.2/chart.umd.min.js": (
        "3f288f4f26882c26b58931fb586a9b4f30370b5de38d69dc005b0bd05b08e113"
    ),
    "vendor/graphiql-3.8.3/graphiql.min.js": (
        "22faab94067b695e5f7959619fbe686ebcc8955002a0c97d986bcbba4ad4bc2c"
    ),
    "vendor/graphiql-3.8.3/graphiql.min.css": (
        "b1868247f8e0502cd869e581f5f3cb55b334862e7f51b1d6cbace11059b9adc2"
    ),
    "vendor/graphiql-plugin-explorer-1.0.2/index.umd.js": (
        "083e37e501d3e3920a60e627b82191af056009124dce82a332e8ac74db6ca38b"
    ),
    "vendor/graphiql-plugin-explorer-1.0.2/style.css": (
        "762850cb69873400d0ab1737c6158aee91f5c38195bc4a30ee02a3c5d5af4e01"
    ),
    "vendor/react-18.2.0/react.production.min.js": (
        "4b4969fa4ef3594324da2c6d78ce8766fbbc2fd121fff395aedf997db0a99a06"
    ),
    "vendor/react-dom-18.2.0/react-dom.production.min.js": (
        "21758ed084cd0e37e735722ee4f3957ea960628a29dfa6c3ce1a1d47a2d6e4f7"
    ),
}
