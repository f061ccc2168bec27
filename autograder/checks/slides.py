"""Where each check's topic is taught: the slides' own section numbers and titles, in their words.

The slides (``lab3-slides.txt``, the students' handout) are in Spanish; feedback cites them as they
are, whatever the language of the rest of the feedback, so that a student finds the section.
"""
from __future__ import annotations

SECTIONS = {
    "1.1": "Revisión de Fundamentos Matemáticos",
    "1.2": "Implementación de Bloques",
    "1.3": "Escalado de Arquitectura",
    "2.1": "Implementación del Módulo SE",
    "2.2": "Implementación de CBAM",
    "2.3": "Análisis de Rendimiento",
    "3.1": "Capa de Embedding de Parches",
    "3.2": "Autoatención Multi-Cabeza",
    "3.3": "Arquitectura ViT Completa",
    "4.1": "Evaluación de Rendimiento",
    "4.2": "Perfilado Computacional",
    "4.3": "Marco de Selección de Arquitecturas",
}
"""The slides' numbered sections, as their headings write them."""
CRITERIA = "'Evaluación de Código'"
"""The slides' code-grading criteria (a heading without a number)."""


def section(number: str, title: str, detail: str = "") -> str:
    """``number title`` (the slide's numbered heading), then the slide's own words on the point."""
    if SECTIONS.get(number) != title:
        raise ValueError(f"the slides have no section {number} {title!r}")
    return f"{number} {title}" + (f": {detail}" if detail else "")


BLOCKS = "1.2", "Implementación de Bloques"
BASIC_BLOCK = section(*BLOCKS, "'Estructura del Bloque Básico' "
                      "(BasicBlock: convoluciones 3x3 -> 3x3 con conexión de salto)")
BOTTLENECK = section(*BLOCKS, "'Estructura del Bloque Bottleneck' (1x1 -> 3x3 -> 1x1, factor de expansión 4)")
PREACTIVATION = section(*BLOCKS, "comparación pre-activación vs post-activación")
RESNET = section("1.3", "Escalado de Arquitectura", "construir ResNet-18, 34, 50, 101 a partir de bloques componentes")
GRADIENT_FLOW = section("1.1", "Revisión de Fundamentos Matemáticos",
                        "el flujo de gradientes, dL/dx = dL/dH (1 + dF/dx)")
SE = section("2.1", "Implementación del Módulo SE", "'Módulo SE'")
SE_IN_RESNET = section("2.1", "Implementación del Módulo SE", "integración en bloques ResNet")
CBAM = section("2.2", "Implementación de CBAM", "atención por canal, después atención espacial")
GRADCAM = section("2.3", "Análisis de Rendimiento", "visualizar mapas de atención usando Grad-CAM")
PATCHES = section("3.1", "Capa de Embedding de Parches")
POSITIONS = section("3.1", "Capa de Embedding de Parches", "codificación posicional (aprendible vs sinusoidal)")
ATTENTION = section("3.2", "Autoatención Multi-Cabeza")
ENCODER_BLOCK = section("3.3", "Arquitectura ViT Completa", "bloque codificador Transformer "
                        "(LayerNorm -> MSA -> Add -> LayerNorm -> MLP -> Add)")
PRE_NORM = section("3.3", "Arquitectura ViT Completa", "bloque codificador Transformer y 'Detalles de Implementación "
                   "de ViT', aplicar LayerNorm antes de la atención y del MLP (pre-norm)")
VIT = section("3.3", "Arquitectura ViT Completa", "token [CLS], codificación posicional y cabeza de clasificación")
TRAINING = section("4.1", "Evaluación de Rendimiento", "entrenar y medir la convergencia")
PROFILING = section("4.2", "Perfilado Computacional", "'Medición de Rendimiento' (ModelProfiler)")
ERRORS = CRITERIA + ": manejo adecuado de errores y casos límite"
"""The grading criterion the errors checks follow (not a numbered section)."""
EFFICIENCY = CRITERIA + ": uso eficiente de memoria y cómputo"
