"""The regression gate: a bench report against a baseline, with statistics behind each verdict."""
