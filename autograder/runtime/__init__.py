"""The only code that runs inside the jail, next to a submission: the worker, its messages, its
confinement and the probe modules it builds. The sandbox copies this folder whole (with the
package's ``autograder/__init__.py``); nothing here imports the rest of the kit, torch aside."""
