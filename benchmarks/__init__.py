"""The npnet benchmark harness: `python -m benchmarks.run`.

Times whole training epochs of the seed model (Embedding -> GlobalAveragePooling1D -> Dense(16, relu) ->
Dense(1, sigmoid), binary cross-entropy, Adam) for npnet and its peers, each system in its own process,
measured in alternating rounds; per-operation timings; the unavoidable-work bound; scaling curves; the
machine.
"""
