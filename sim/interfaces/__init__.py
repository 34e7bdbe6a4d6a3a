"""The interfaces, on top of every layer: the `clubsim` command (`cli`) and the Solara web page (`app`, served
by `app_server`). They may import any layer; nothing below imports them (tests/test_layers.py).
"""
