# Python side of irface: the ported dlib ResNet, training helpers, and ONNX export with a model card.
"""irface_ml: one concept per module; each module's first line says what it holds.

Entry points for the pretrained backbone: dlib_resnet.DlibResNet.from_faceapi() (PyTorch port of
face-api's recognition net) and export.export_model() (ONNX + model card + reference embeddings).
"""
