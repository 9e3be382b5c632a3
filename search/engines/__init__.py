"""The engines: the encoder, OCR, the vector store and the Hamming index. Each is the only code that
imports its library; none imports another engine, another search module or an app (`.importlinter`)."""
