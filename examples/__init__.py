"""The lecture's worked examples, each a module with ``main()`` that prints what the
lecture states and checks it (raising ``AssertionError`` if it does not hold).

    chainrule examples                 # list them
    chainrule examples xor_mlp         # run one
    python -m chainrule.examples.xor_mlp
"""

#: example name -> what it shows (in the lecture's order)
EXAMPLES = {}
