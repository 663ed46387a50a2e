"""jupyter_kernel_test conformance for the attnlab Node kernel (run by conformance.test.ts)."""
import unittest
import jupyter_kernel_test as jkt


class AttnlabKernelTests(jkt.KernelTests):
    kernel_name = "attnlab"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'
    code_display_data = [
        {"code": 'display({ [Symbol.for("Jupyter.display")]() { return { "text/html": "<b>hi</b>" }; } })', "mime": "text/html"},
    ]
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "const s: string = 'a' + 'b';\ns", "result": '"ab"'},
    ]
    code_clear_output = "clearOutput()"
    code_generate_error = 'throw new Error("expected")'
    complete_code_samples = ["1 + 1", "const x = { a: [1, 2] };"]
    incomplete_code_samples = ["function f() {", "const s = `abc"]
    completion_samples = [
        {"text": "Math.ma", "matches": {"max"}},
        {"text": "console.lo", "matches": {"log"}},
        {"text": "const headWidth = 64; head", "matches": {"headWidth"}},
    ]
    code_inspect_sample = "Math.max"
    code_history_pattern = "6 * 7"
    supported_history_operations = ("tail",)


if __name__ == "__main__":
    unittest.main()
