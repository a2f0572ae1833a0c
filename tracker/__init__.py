"""An MDNet-style online visual object tracker whose fc4-fc6 learn while tracking by BP, FA, DFA or binary DFA."""
