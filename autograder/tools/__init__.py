"""What only instructors run: the release bundle, the lab notebook, golden/ recording, skeletons,
the translation catalogues, the model table and the Gradescope package. They need solutions/,
nbgrader or Babel; neither the student bundle nor the Gradescope package carries this folder."""
