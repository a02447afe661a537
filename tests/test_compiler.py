"""The compiler passes on the language's semantics: expansion, naming, scope, shapes, codegen."""

import pytest
import torch

from cramnet.blocks.dims import Poly
from cramnet.compiler import check_spec, compile_spec
from cramnet.dsl.errors import SpecErrors


def nodes(checked):
    return {n: checked.graph.nodes[n].block for n in checked.graph.nodes}


def test_star_n_and_repeat_make_copies_with_own_weights():
    checked = check_spec("""
        model m {
            input x: [8]
            x -> (dense(8) -> relu) * 3 -> repeat 2 { dense(8)
                                                       gelu } as h
            output h
        }""")
    blocks = [checked.graph.nodes[n].block for n in checked.graph.nodes if n != "x"]
    assert blocks == ["dense", "relu"] * 3 + ["dense", "gelu"] * 2
    assert checked.summary().params == 5 * (8 * 8 + 8)
    assert "h" in checked.graph  # `as h` names the last copy's node


def test_star_binds_tighter_than_arrow():
    checked = check_spec("model m {\n input x: [4]\n x -> dense(4) -> relu * 3 as y\n output y\n}")
    assert [checked.graph.nodes[n].block for n in checked.graph.nodes][1:] == ["dense", "relu", "relu", "relu"]


def test_block_expansion_names_nodes_by_instance_and_binding():
    checked = check_spec("""
        block pair(d) {
            a = in -> dense(d)
            b = in -> dense(d)
            add(a, b)
        }
        model m {
            input x: [4]
            x -> pair(4) -> pair(4) as out
            output out
        }""")
    assert {"pair_1.a", "pair_1.b", "pair_1.add_1", "pair_2.a", "pair_2.b", "pair_2.add_1"} <= set(checked.graph)
    span = checked.graph.nodes["pair_1.a"].span
    assert (span.line, span.col) == (3, 23)  # the span of the dense call inside the block


def test_residual_and_parallel_build_merge_nodes():
    checked = check_spec("""
        model m {
            input x: [6]
            y = x -> residual { dense(6) -> relu } -> parallel(merge = concat) { dense(2) | dense(3) -> tanh }
            z = x -> parallel(merge = stack) { relu | gelu | sigmoid }
            output y, z
        }""")
    assert checked.output_types["y"].dims == (5,)
    assert checked.output_types["z"].dims == (3, 6)
    module = checked.build(seed=0)
    x = torch.randn(2, 6)
    y, z = module(x)
    residual = x + torch.relu(module.dense_1(x))
    torch.testing.assert_close(y, torch.cat([module.dense_2(residual), torch.tanh(module.dense_3(residual))], -1))
    torch.testing.assert_close(z, torch.stack([torch.relu(x), torch.nn.functional.gelu(x), torch.sigmoid(x)], 1))


def test_block_sees_its_own_files_lets_and_parameters_shadow_them(tmp_path):
    (tmp_path / "lib.cram").write_text(
        "let width = 16\nblock wide(mult = 2) { dense(width * mult) }\nblock shadow(width) { dense(width) }\n"
    )
    (tmp_path / "main.cram").write_text(
        'use "lib.cram"\nlet width = 3\nmodel m {\n input x: [4]\n'
        " x -> wide -> shadow(5) -> dense(width) as y\n output y\n}\n"
    )
    checked = check_spec(tmp_path / "main.cram")
    shapes = [checked.graph.nodes[n].type.dims for n in checked.graph.nodes]
    assert shapes == [(4,), (32,), (5,), (3,)]


def test_a_files_own_definition_shadows_a_used_one_and_conflicts_only_where_used(tmp_path):
    (tmp_path / "a.cram").write_text("block twice() { dense(2) }\nblock only_a() { relu }\n")
    (tmp_path / "b.cram").write_text("block twice() { dense(3) }\n")
    main = tmp_path / "main.cram"
    main.write_text('use "a.cram"\nuse "b.cram"\nmodel m {\n input x: [4]\n x -> only_a as y\n output y\n}\n')
    check_spec(main)  # `twice` is defined twice, but never used: no conflict
    main.write_text('use "a.cram"\nuse "b.cram"\nmodel m {\n input x: [4]\n x -> twice as y\n output y\n}\n')
    with pytest.raises(SpecErrors) as failure:
        check_spec(main)
    assert failure.value.errors[0].code == "E214"
    main.write_text(
        'use "a.cram"\nuse "b.cram"\nblock twice() { dense(7) }\nmodel m {\n input x: [4]\n'
        " x -> twice as y\n output y\n}\n"
    )
    assert check_spec(main).output_types["y"].dims == (7,)


def test_symbolic_dimensions_flow_through_shapes_and_flops():
    checked = check_spec("""
        model m {
            input x: [seq, 16]
            x -> dense(32) -> transpose(0, 1) -> conv1d(8, 3, stride = 2) as y
            output y
        }""")
    (length,) = checked.output_types["y"].dims[1:]
    assert isinstance(length, Poly) and str(length) == "(seq - 3)//2 + 1"
    assert checked.summary({"seq": 11}).flops == 11 * 2 * 16 * 32 + 5 * 2 * 8 * 32 * 3
    module = checked.build(seed=0)
    assert module(torch.randn(2, 11, 16)).shape == (2, 8, 5)


def test_inputs_by_position_or_name_and_outputs_in_order():
    module = compile_spec("""
        model two {
            input a: [3]
            input b: [3]
            s = add(a, b)
            p = mul(a, b)
            output p, s
        }""")
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    p, s = module(a, b)
    torch.testing.assert_close(p, a * b)
    torch.testing.assert_close(s, a + b)
    torch.testing.assert_close(module(b=b, a=a)[1], a + b)


def test_generated_source_is_readable_straight_line_code():
    source = check_spec("specs/lenet5.cram").source()
    assert "def forward(self, image):" in source
    assert "        logits = self.logits(tanh_4)  # (B, 10)" in source
    forward = source.split("def forward")[1].split("def aux_losses")[0]
    assert "for " not in forward  # no interpreter loop


def test_node_names_that_are_python_words_stay_valid():
    module = compile_spec("model m {\n input x: [4]\n x -> dense(4) as lambda -> relu as forward\n output forward\n}")
    assert module(torch.randn(1, 4)).shape == (1, 4)


@pytest.mark.parametrize(
    ("name", "cls"),
    [("mamba", "MambaModel"), ("f", "FModel"), ("none", "NoneModel"), ("self_attention", "SelfAttentionModel")]
    + [("pre_ln", "PreLn2")],  # a block's generated class keeps its name
)
def test_a_model_named_as_a_class_the_file_holds_gets_a_class_of_its_own(name, cls):
    # the model's class once took the name of a block's module class (Mamba), of an import (F) or of
    # a keyword (None), and building it built the block instead, or did not parse
    checked = check_spec(f"""
use "std:transformer"
model {name} {{
    input ids: tokens[seq]
    ids -> embed(40, 16) -> residual {{ rmsnorm -> mamba(8, 2, 4) }} -> pre_ln(16, 4, 32) -> dense(40) as logits
    output logits
}}
""")
    ids = torch.randint(0, 40, (2, 5), generator=torch.Generator().manual_seed(0))
    module = checked.build(seed=0)
    assert type(module).__name__ == cls and module(ids).shape == (2, 5, 40)
    generated = checked.generated(standalone=True)  # a file that imports torch alone
    namespace = {}
    exec(compile(generated.source, f"{name}.py", "exec"), namespace)
    assert generated.cls == cls
    standalone = namespace[cls]()
    standalone.load_state_dict(module.state_dict())
    torch.testing.assert_close(standalone(ids), module(ids))


def test_bindings_inside_repeated_bodies_keep_node_names():
    checked = check_spec("model m {\n input x: [4]\n x -> repeat 2 { h = in -> dense(4)\n relu } as y\n output y\n}\n")
    assert "h" not in checked.graph and {"dense_1", "dense_2"} <= set(checked.graph)


def test_sizes_given_with_dim_reach_the_node_shapes():
    checked = check_spec("model m {\n input x: [seq, 4]\n x -> dense(3) as y\n output y\n}\n")
    assert checked.summary({"seq": 7}).rows[0].shape == "[7, 3]"


def test_the_graph_holds_typed_records_and_copies_them():
    checked = check_spec("specs/mlp.cram")
    graph = checked.graph
    first = next(n for n in graph if graph.nodes[n].block == "dense")
    assert graph.nodes[first].params > 0 and not graph.nodes[first].is_input
    with pytest.raises(TypeError, match="no field 'typ'"):
        graph.nodes[first].update(typ=None)  # a misspelt field is an error where it is written
    for copy in (graph.copy(), graph.subgraph(list(graph)).copy()):
        assert set(copy) == set(graph) and set(copy.edges) == set(graph.edges)
        assert copy.nodes[first].type == graph.nodes[first].type and copy.nodes[first] is not graph.nodes[first]
