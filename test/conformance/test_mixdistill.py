"""Debian's jupyter_kernel_test suite against the mixdistill kernel, with a sample for every test.

Run with Debian's Python and the kernelspec on JUPYTER_PATH:
    JUPYTER_PATH=<prefix>/share/jupyter /usr/bin/python3 -m unittest -v test_mixdistill
"""
import unittest

import jupyter_kernel_test


class MixdistillKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "mixdistill"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = "console.log('hello, world')"
    code_stderr = "console.error('something on stderr')"

    completion_samples = [
        {"text": "let zzzConformanceValue = 1; zzzConformance", "matches": {"zzzConformanceValue"}},
        {"text": "const conformanceObj = { lengthOfThing: 1, other: 2 }; conformanceObj.leng", "matches": {"lengthOfThing"}},
    ]

    complete_code_samples = ["1 + 1", "let x: number = 1", "function f() { return 1 }", "for (const i of [1]) {}"]
    incomplete_code_samples = ["function f() {", "let y = (1 +", "const s = `abc", "if (true) {\n  console.log(1)"]
    invalid_code_samples = ["let 1x = 2", "}}", "const = 5"]

    code_page_something = "page('help text for the pager')"

    code_generate_error = "throw new Error('conformance error')"

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "'abc'.toUpperCase()", "result": "'ABC'"},
        {"code": "[1, 2, 3].length", "result": "3"},
        {"code": "html('<b>rich</b>')", "mime": "text/html", "result": "<b>rich</b>"},
    ]

    code_display_data = [
        {"code": "display(html('<b>bold</b>'))", "mime": "text/html"},
        {"code": "display(markdown('*emphasis*'))", "mime": "text/markdown"},
        {"code": "display(svg('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))", "mime": "image/svg+xml"},
        {"code": "display(json({ a: 1 }))", "mime": "application/json"},
        {"code": "display({ 'text/plain': 'raw bundle' })", "mime": "text/plain"},
    ]

    code_history_pattern = "6 * *"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Math.max"

    code_clear_output = "clearOutput()"


if __name__ == "__main__":
    unittest.main()
