"""Every differentiable op of the registry passes a float64 finite-difference check.

For each case we build ``y = op(x₀, x₁, …)`` and the scalar ``L = Σₖ ⟨yₖ, cₖ⟩`` with a fixed
random cotangent ``c``, run the ``backward`` pass, and compare (as JAX's ``check_vjp`` does)

    ⟨x̄, t⟩  (from the emitted gradient nodes)   with   (L(x + εt) − L(x − εt)) / 2ε

in several random directions ``t``, in float64, with a fixed seed.

Adding an op: add ONE entry to ``CASES`` (op name -> list of ``case(...)``), or, if the op
has ``differentiable=False`` or ``zero_grad=True``, add its name to ``NOT_DIFFERENTIABLE``.
``test_every_op_has_a_gradient_check`` fails for an op in ``OPS`` that has neither, so an op
cannot land without a checked gradient rule. A ``case`` lists its inputs and attributes:

    case((3, 4), (4,))                       two standard-normal inputs (broadcasting)
    case(pos(3, 4))                          positive entries (Log, Sqrt)
    case((3, 4), dist(3, 4), reduction="sum")  a target whose rows sum to 1; an attribute

Input kinds: a bare shape (normal), ``pos`` (0.5..2), ``away0`` (|x| in 0.5..2), ``unit``
(0.1..0.9), ``dist`` (softmax rows), ``boolean`` and ``index(n, *shape)`` (ints in 0..n-1).
Inputs listed in the op's ``nondiff_inputs`` and non-float inputs get no gradient request.
"""
import numpy as np
import pytest

from chainrule.ir import OPS, DType, Emitter, Graph, TensorType, parse_graph, print_graph, verify
from chainrule.passes import backward
from chainrule.runtime import Interpreter


def case(*inputs, **attrs):
    return (tuple(inputs), attrs)


def pos(*s): return ("pos", s)
def away0(*s): return ("away0", s)
def unit(*s): return ("unit", s)
def dist(*s): return ("dist", s)
def boolean(*s): return ("bool", s)
def index(n, *s): return (("index", n), s)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _gen(rng, spec):
    kind, shape = ("normal", spec) if not spec or isinstance(spec[0], int) else spec
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "away0":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)
    if kind == "unit":
        return rng.uniform(0.1, 0.9, shape)
    if kind == "dist":
        return _softmax(rng.standard_normal(shape))
    if kind == "bool":
        return rng.random(shape) > 0.5
    if isinstance(kind, tuple) and kind[0] == "index":
        return rng.integers(0, kind[1], shape).astype(np.int64)
    raise ValueError(f"unknown input kind {kind!r}")


#: op name -> cases; shapes include broadcasting, keepdims, transposes, batch dims.
CASES = {
    "Add": [case((3, 4), (3, 4)), case((3, 4), (4,)), case((3, 1), (1, 4)), case((), (2, 3))],
    "Sub": [case((3, 4), (3, 4)), case((2, 3, 4), (3, 1)), case((4,), ())],
    "Mul": [case((3, 4), (3, 4)), case((3, 4), (4,)), case((2, 1, 4), (3, 1)), case((), (5,))],
    "Div": [case((3, 4), away0(3, 4)), case((3, 4), away0(4,)), case((4,), away0(3, 1))],
    "Pow": [case(pos(3, 4), (3, 4)), case(pos(3, 4), ()), case(pos(4,), (2, 4))],
    "Neg": [case((3, 4)), case(())],
    "Identity": [case((3, 4))],
    "Exp": [case((3, 4)), case(())],
    "Log": [case(pos(3, 4))],
    "Sqrt": [case(pos(3, 4))],
    "Square": [case((3, 4)), case((5,))],
    "Sin": [case((3, 4))],
    "Cos": [case((3, 4))],
    "Sum": [case((3, 4)), case((3, 4), (3, 4), (3, 4)), case((3, 4), (4,), (3, 1))],
    "Where": [case(boolean(3, 4), (3, 4), (3, 4)), case(boolean(3, 1), (4,), (3, 4)), case(boolean(4,), (3, 4), ())],
    "Relu": [case(away0(3, 4))],
    "LeakyRelu": [case(away0(3, 4)), case(away0(5,), alpha=0.2)],
    "Softplus": [case((3, 4))],
    "Sigmoid": [case((3, 4)), case(())],
    "Tanh": [case((3, 4))],
    "Softmax": [case((3, 4)), case((3, 4), axis=0), case((2, 3, 4), axis=1), case((5,))],
    "LogSoftmax": [case((3, 4)), case((3, 4), axis=0), case((2, 3, 4), axis=1)],
    "ReduceSum": [case((3, 4)), case((3, 4), axes=(1,), keepdims=0), case((2, 3, 4), axes=(0, 2)),
                  case((2, 3, 4), axes=(-1,), keepdims=0)],
    "ReduceMean": [case((3, 4)), case((3, 4), axes=(0,), keepdims=0), case((2, 3, 4), axes=(1, 2))],
    "ReduceMax": [case((3, 4)), case((3, 4), axes=(1,), keepdims=0), case((2, 3, 4), axes=(0, 2), keepdims=1)],
    "MatMul": [case((3, 4), (4, 5)), case((2, 3, 4), (4, 5)), case((3, 4), (2, 4, 5)),
               case((2, 1, 3, 4), (5, 4, 2)), case((4,), (4, 5)), case((3, 4), (4,)), case((4,), (2, 4, 3))],
    "Gemm": [case((3, 4), (4, 5)), case((3, 4), (5, 4), (5,), transB=1),
             case((4, 3), (4, 5), (3, 1), transA=1, alpha=0.5, beta=2.0),
             case((4, 3), (5, 4), (), transA=1, transB=1), case((3, 4), (4, 5), (3, 5), beta=-1.5)],
    "Transpose": [case((3, 4)), case((2, 3, 4), perm=(1, 0, 2)), case((2, 3, 4), perm=(2, 0, 1))],
    "Reshape": [case((2, 3, 4), shape=(6, 4)), case((2, 3, 4), shape=(-1,)), case((2, 3, 4), shape=(0, 12))],
    "Flatten": [case((2, 3, 4)), case((2, 3, 4), axis=2), case((2, 3, 4), axis=0), case((2, 3), axis=-1)],
    "Unsqueeze": [case((3, 4), axes=(0,)), case((3, 4), axes=(1, -1))],
    "Squeeze": [case((3, 1, 4, 1)), case((3, 1, 4), axes=(1,))],
    "ExpandLike": [case((3, 1), (2, 3, 4)), case((4,), (3, 4)), case((), (2, 2))],
    "SquaredError": [case((4, 3), (4, 3)), case((4, 3), (4, 3), reduction="sum"),
                     case((4, 3), (4, 3), reduction="none"), case((5,), (5,)), case((2, 3, 2), (2, 3, 2))],
    "CrossEntropy": [case(unit(4, 3), dist(4, 3)), case(unit(4, 3), dist(4, 3), reduction="none")],
    "BinaryCrossEntropy": [case(unit(4, 1), unit(4, 1)), case(unit(5,), unit(5,), reduction="sum")],
    "SoftmaxCrossEntropy": [case((4, 3), dist(4, 3)), case((4, 3), dist(4, 3), reduction="sum"),
                            case((2, 3, 4), dist(2, 3, 4), reduction="none"),
                            case((4, 3), dist(4, 3), probs=1), case((2, 3, 4), dist(2, 3, 4), reduction="none", probs=1)],
    "Concat": [case((3, 2), (3, 4), axis=1), case((2, 3), (1, 3), (2, 3)), case((4,))],
    # index(3, 5) draws repeated rows, so the scatter-add of their gradients is checked
    "Gather": [case((3, 4), index(3, 5)), case((3, 4), index(4, 2, 3), axis=1), case((5,), index(5, 7))],
    "ScatterAddLike": [case((5, 4), index(3, 5), (3, 4)), case((3, 2, 3), index(4, 2, 3), (3, 4), axis=1)],
    # convolutions: x [N,C,H,W], W [O,C/group,kh,kw], b [O]; pads are (top, left, bottom, right)
    "Conv": [case((2, 3, 5, 5), (4, 3, 3, 3), (4,)), case((2, 2, 7, 6), (3, 2, 3, 2), strides=(2, 3)),
             case((1, 2, 5, 5), (2, 2, 3, 3), (2,), pads=(1, 0, 2, 1)), case((1, 2, 7, 7), (2, 2, 2, 3), dilations=(2, 2)),
             case((2, 4, 5, 5), (6, 2, 3, 3), (6,), group=2, strides=(2, 2), pads=(1, 1, 1, 1))],
    "ConvTranspose": [case((2, 4, 3, 3), (4, 3, 3, 3), (3,)), case((1, 2, 3, 4), (2, 3, 2, 2), strides=(2, 2), pads=(1, 0, 0, 1)),
                      case((1, 4, 3, 3), (4, 1, 3, 3), group=2, strides=(2, 2), output_padding=(1, 0), dilations=(1, 2))],
    "ConvFilterGrad": [case((2, 3, 5, 5), (2, 4, 3, 3), kernel_shape=(3, 3)),
                       case((1, 4, 6, 5), (1, 2, 3, 2), kernel_shape=(2, 2), strides=(2, 2), pads=(0, 0, 1, 0), group=2)],
    # pools: random normal inputs have no ties, so the max is differentiable at the sample
    "MaxPool": [case((2, 3, 4, 4), kernel_shape=(2, 2), strides=(2, 2)), case((1, 2, 5, 5), kernel_shape=(3, 3)),
                case((1, 2, 5, 6), kernel_shape=(2, 3), strides=(2, 2), pads=(1, 1, 0, 1), ceil_mode=1),
                case((1, 1, 7, 7), kernel_shape=(2, 2), dilations=(2, 2), strides=(2, 1))],
    "AveragePool": [case((2, 3, 4, 4), kernel_shape=(2, 2), strides=(2, 2)),
                    case((1, 2, 5, 5), kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),
                    case((1, 2, 5, 5), kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), count_include_pad=1),
                    case((1, 2, 5, 6), kernel_shape=(2, 2), strides=(2, 2), ceil_mode=1, count_include_pad=1)],
    "AveragePoolGrad": [case((2, 3, 2, 2), (2, 3, 4, 4), kernel_shape=(2, 2), strides=(2, 2)),
                        case((1, 2, 3, 3), (1, 2, 5, 5), kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))],
    "Pad": [case((2, 3), pads=(1, 0, 2, 3)), case((1, 2, 3, 3), pads=(0, 0, 1, -1, 0, 0, 2, 1), value=1.5),
            case((3, 4), pads=(1, 2, 2, 1), mode="reflect"), case((3, 4), pads=(0, -1, 2, 3), mode="edge"),
            case((2, 3), pads=(2, 0, 1, 4), mode="wrap")],
    "GlobalAveragePool": [case((2, 3, 4, 5)), case((2, 3, 4))],
    # batch norm: x, γ, β (, running μ, running σ² in inference); training checks the paths through μ and σ²
    "BatchNormalization": [case((4, 3, 2, 2), (3,), (3,), (3,), pos(3,)), case((5, 3), (3,), (3,), (3,), pos(3,), epsilon=0.1)],
    "BatchNormTraining": [case((4, 3, 2, 2), (3,), (3,)), case((6, 3), (3,), (3,)), case((3, 2, 3, 1), (2,), (2,), epsilon=0.01)],
    # the elementwise ops and activations ONNX models use; normal inputs stay clear of the kinks
    "Erf": [case((3, 4)), case(())],
    "Abs": [case(away0(3, 4))],
    "Reciprocal": [case(away0(3, 4))],
    "Elu": [case(away0(3, 4)), case(away0(5,), alpha=0.5)],
    "Selu": [case(away0(3, 4)), case(away0(5,), alpha=1.5, gamma=2.0)],
    "Celu": [case(away0(3, 4)), case(away0(5,), alpha=2.0)],
    "Gelu": [case((3, 4)), case((3, 4), approximate="tanh"), case(())],
    "Mish": [case((3, 4))],
    "HardSigmoid": [case((3, 4)), case((3, 4), alpha=0.5, beta=0.2)],
    "HardSwish": [case((3, 4))],
    "Softsign": [case((3, 4))],
    "PRelu": [case(away0(3, 4), (4,)), case(away0(2, 3, 4), (3, 1)), case(away0(3, 4), ())],
    # random operands never tie; at a tie the first operand takes ȳ (ir/ops/extrema.py)
    "Max": [case((3, 4), (3, 4)), case((3, 4), (4,), (3, 1)), case((3, 4))],
    "Min": [case((3, 4), (3, 4)), case((3, 1), (4,), (3, 4)), case((5,))],
    "Clip": [case((3, 4), (), ()), case((3, 4), (4,), (3, 1))],
    "Mod": [case((3, 4), away0(3, 4), fmod=1), case((3, 4), away0(4,)), case((4,), away0(3, 1), fmod=1)],
    # the shape, reduction and normalisation ops of ONNX breadth; every output of LayerNormalization
    # and Split gets a cotangent, so the paths through μ and 1/σ and through each piece are checked
    "ReduceMin": [case((3, 4)), case((3, 4), axes=(1,), keepdims=0), case((2, 3, 4), axes=(0, 2))],
    "ReduceProd": [case((3, 4)), case((2, 3, 4), axes=(1,), keepdims=0), case(away0(3, 4), axes=(0,))],
    "ReduceL1": [case(away0(3, 4)), case(away0(2, 3, 4), axes=(0, 2), keepdims=0)],
    "ReduceL2": [case((3, 4)), case((2, 3, 4), axes=(1,), keepdims=0)],
    "ReduceSumSquare": [case((3, 4)), case((2, 3, 4), axes=(0, 2), keepdims=0)],
    "ReduceLogSumExp": [case((3, 4)), case((2, 3, 4), axes=(-1,), keepdims=0), case((3, 4), axes=(0,))],
    "LayerNormalization": [case((4, 5), (5,), (5,)), case((2, 3, 4), (3, 4), (3, 4), axis=1),
                           case((3, 4), (4,), epsilon=0.1), case((2, 3, 4), (1, 4), (), axis=0)],
    "Split": [case((5, 3), split=(2, 3)), case((2, 6), axis=1, split=(1, 0, 5)), case((4,), split=(4,))],
    "Tile": [case((2, 3), repeats=(2, 3)), case((3,), repeats=(1,)), case((2, 1, 3), repeats=(1, 4, 2))],
    "Trilu": [case((4, 5)), case((2, 3, 4), upper=0, k=1), case((3, 3), k=-1)],
    "PadGrad": [case((5, 7), pads=(1, 2, 1, 1), mode="reflect"), case((4, 6), pads=(0, 2, 1, -1), mode="edge"),
                case((2, 6, 3), pads=(0, -1, 0, 0, 3, 0), mode="wrap")],
}

#: Ops declared without a gradient: differentiable=False (no gradient flows) or zero_grad=True.
NOT_DIFFERENTIABLE = {
    "ArgMax", "Cast", "Constant", "Count", "Equal", "Greater", "OneHot",  # differentiable=False
    "HardThreshold",  # zero_grad=True: derivative 0 almost everywhere; autodiff warns
    "Fused",  # differentiable=False: made by fuse-elementwise, which runs after autodiff
    "MaxPoolGrad",  # differentiable=False: second derivatives through MaxPool are not implemented
    "DropoutMask",  # differentiable=False: a random mask; dropout's gradient is Mul's
    "Less", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not",  # differentiable=False: bool results
    "Floor", "Ceil", "Round", "Sign",  # zero_grad=True: step functions
    "ConstantOfShape", "Range",  # differentiable=False: made from attributes, no operands
}


def test_every_op_has_a_gradient_check():
    missing = [n for n, op in OPS.items()
               if op.differentiable and not op.zero_grad and n not in CASES]
    undeclared = [n for n, op in OPS.items()
                  if (not op.differentiable or op.zero_grad) and n not in NOT_DIFFERENTIABLE]
    assert not missing, (f"ops with a gradient rule but no finite-difference case in CASES "
                         f"(tests/test_autodiff_gradcheck.py): {missing}")
    assert not undeclared, f"non-differentiable ops missing from NOT_DIFFERENTIABLE: {undeclared}"


def test_tables_name_only_registered_ops():
    stale = [n for n in list(CASES) + sorted(NOT_DIFFERENTIABLE) if n not in OPS]
    assert not stale, f"CASES / NOT_DIFFERENTIABLE name ops that are not in OPS: {stale}"
    wrong = [n for n in NOT_DIFFERENTIABLE if OPS[n].differentiable and not OPS[n].zero_grad]
    assert not wrong, f"{wrong} are differentiable: give them CASES entries instead"
    for n, op in OPS.items():
        if op.differentiable and not op.zero_grad:
            assert op.rule, f"{n} has a vjp but no rule text in bar notation"


def _build(opname, inputs, attrs, seed):
    rng = np.random.default_rng(seed)
    arrays = [_gen(rng, s) for s in inputs]
    g = Graph(f"check_{opname}")
    xs = [g.add_input(f"x{i}", TensorType(a.shape, DType.of(a.dtype))) for i, a in enumerate(arrays)]
    e = Emitter(g)
    ys = e.emit(opname, xs, attrs, name="y").outputs
    cs = [g.add_input(f"c{k}", y.type) for k, y in enumerate(ys)]
    terms = [e.ReduceSum(e.Mul(y, c), axes=None, keepdims=0) for y, c in zip(ys, cs)]
    loss = terms[0] if len(terms) == 1 else e.Sum(*terms, name="L")
    cots = [rng.standard_normal(y.type.shape) for y in ys]
    skip = getattr(OPS[opname], "nondiff_inputs", ())
    wrt = [x for i, x in enumerate(xs) if i not in skip and x.type.dtype.is_float]
    return g, xs, arrays, cots, loss, wrt, rng


def _ids():
    return [(name, k) for name in sorted(CASES) for k in range(len(CASES[name]))]


@pytest.mark.parametrize("opname,k", _ids(), ids=[f"{n}-{k}" for n, k in _ids()])
def test_vjp_matches_central_differences(opname, k):
    inputs, attrs = CASES[opname][k]
    g, xs, arrays, cots, loss, wrt, rng = _build(opname, inputs, attrs, seed=1000 + k)
    assert wrt, f"{opname} case {k} has nothing to differentiate"
    grads = backward(g, [loss], wrt)
    g.set_outputs([loss] + grads)
    verify(g)
    text = print_graph(g)
    assert print_graph(parse_graph(text)) == text
    for x, gx in zip(wrt, grads):
        assert gx.type == x.type, f"{opname}: gradient of %{x.name} has type {gx.type}, want {x.type}"
        assert gx.name == f"grad_{x.name}"
    run = Interpreter(g).run_list
    base = run(arrays + cots)
    gvals = base[1:]
    eps = 1e-6
    index = {id(x): i for i, x in enumerate(xs)}
    for _ in range(3):
        ts = [rng.standard_normal(x.type.shape) for x in wrt]

        def loss_at(sign):
            moved = list(arrays)
            for x, t in zip(wrt, ts):
                moved[index[id(x)]] = arrays[index[id(x)]] + sign * eps * t
            return float(run(moved + cots)[0])
        fd = (loss_at(+1) - loss_at(-1)) / (2 * eps)
        vjp = sum(float(np.sum(gv * t)) for gv, t in zip(gvals, ts))
        assert np.isclose(vjp, fd, rtol=1e-5, atol=1e-7), (
            f"{opname} case {k} ({inputs}, {attrs}): ⟨x̄, t⟩ = {vjp!r} but central difference = {fd!r}")
