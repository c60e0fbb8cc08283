"""olive-lab's engine: everything the app and the command line share, and nothing that draws.

The engine never imports Textual (a test enforces it) and imports heavy packages (torch, olive,
onnxruntime, azure) only inside the functions that need them, so the app starts fast.
"""

__version__ = "0.1.0"
