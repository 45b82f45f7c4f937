// Package readmetest proves that the READMEs run as written: README.md and the Python, PHP
// and Node clients' READMEs. Every fenced code block in them carries a marker, an HTML
// comment on the line just before its opening fence, and a block without one fails the test,
// so a new block cannot go untested:
//
//	<!-- run: sh -->                 shell commands, run with bash -euo pipefail in a
//	                                 directory that looks like the repository's root (its
//	                                 top-level entries linked, bin/polyfork freshly built,
//	                                 polyfork and the interpreters on PATH, $REPO the root);
//	                                 a "# -> TEXT" comment is output the block must print,
//	                                 in order. Options after ";": NAME=repo/path puts that
//	                                 file in the directory as NAME; "ports" gives 3000, 3001
//	                                 and 4222 free ports instead, and curl waits for its port;
//	                                 "env K=V" sets a variable the README set before; "first N"
//	                                 runs only the first N lines (the rest says why not).
//	<!-- run: python -->             a complete child program (also php, node), started by
//	                                 the test as a polyfork child in that directory; checks
//	                                 after ";": "call METHOD JSON -> JSON" (the host answers
//	                                 every call from the child with {"host": METHOD,
//	                                 "params": PARAMS}) and "send JSON -> JSON" (a message,
//	                                 and the message the child sends back). The child must
//	                                 then stop cleanly.
//	<!-- file: path/in/repo -->      the block is that file, byte for byte; with #NAME, the
//	                                 region between "// readme:start NAME" and
//	                                 "// readme:end" in it (one common indentation removed).
//	                                 The file is run by its own tests.
//	<!-- output -->                  after a run: sh block, lines its stdout (or stderr, with
//	                                 "output: stderr") must have, in order; "..." is any text.
//	<!-- layout -->                  a directory listing: each path in its first column must
//	                                 exist.
//	<!-- skip: REASON -->            blocks that cannot run here (what they need, or which
//	                                 test runs them instead); the reason is required and the
//	                                 test logs how many were skipped.
//
// Every relative link of the four READMEs must name a file or directory that exists.
// "/path/to/polyfork", "<repo>" and "<clone>" in a block stand for the repository's root.
package readmetest
