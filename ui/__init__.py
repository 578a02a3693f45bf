"""The desktop app (PySide6). Only app.py wires it; the areas never touch the store.

The core modules the first screen needs are imported here, before any Qt module: once PySide6
is loaded it reads the source of every module imported after it, to see whether that module
uses PySide6. At start that reading took about 24 ms; with the core imported first, about 10.
"""

# ruff: noqa: F401

import concurrent.futures

import fieldapp.agenda
import fieldapp.calculator
import fieldapp.coverage
import fieldapp.lock
import fieldapp.logs
import fieldapp.pledges
import fieldapp.workspace
import sync.protocol.labels
