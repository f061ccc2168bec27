"""Lab 3 components: ResNet, attention modules, Vision Transformer, Grad-CAM, profiler."""
