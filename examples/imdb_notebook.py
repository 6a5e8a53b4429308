"""The Keras notebook "Text classification with movie reviews", ported line by line to npnet.

The original (TensorFlow/Keras 2 era) trained `Embedding -> GlobalAveragePooling1D -> Dense(16, relu) ->
Dense(1, sigmoid)` on the IMDB reviews; this is the same program with `npnet` in place of `keras`, the same
variable names and the same steps. Two things differ on purpose:

- `decode_review` is correct here: the notebook looked ids up in the unshifted word index, so every word it
  printed was off by three ranks. The index is shifted by `index_from=3` below, exactly as `load_data` shifts
  the reviews.
- Nothing is downloaded when the data is already in the per-user cache (`~/.cache/npnet/datasets`, or
  `$NPNET_DATA_DIR`). Offline, `npnet train` (or `npnet data build --from aclImdb_v1.tar.gz`) builds it
  first from the Stanford reviews.

Run it with npnet installed (`pip install -e .`): `python examples/imdb_notebook.py`, about as long as
`npnet train`.
The plots are written to `imdb_loss.png` and `imdb_accuracy.png` in the working folder.
"""

import sys

import matplotlib

matplotlib.use("Agg")  # the notebook showed its plots inline; a script writes them to files

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import npnet
from npnet import layers, optimizers
from npnet.datasets import imdb
from npnet.errors import DataError
from npnet.models import Sequential
from npnet.preprocessing.sequence import pad_sequences

print(npnet.__version__)

# ## Download the IMDB dataset
try:
    (train_data, train_labels), (test_data, test_labels) = imdb.load_data(num_words=10000)
except DataError as error:  # no data and no network: the message says how to build it offline
    sys.exit(f"{error}")

# ## Explore the data
print(f"Training entries: {len(train_data)}, labels: {len(train_labels)}")
print(train_data[0])
print(len(train_data[0]), len(train_data[1]))

# ### Convert the integers back to words
# A dictionary mapping words to an integer index
word_index = imdb.get_word_index()

# The first indices are reserved
word_index = {k: (v + 3) for k, v in word_index.items()}
word_index["<PAD>"] = 0
word_index["<START>"] = 1
word_index["<UNK>"] = 2  # unknown
word_index["<UNUSED>"] = 3

reverse_word_index = {value: key for (key, value) in word_index.items()}


def decode_review(text):
    return " ".join([reverse_word_index.get(i, "?") for i in text])


print(decode_review(train_data[0]))
print(decode_review(train_data[1]))

# ## Prepare the data
train_data = pad_sequences(train_data, value=word_index["<PAD>"], padding="post", maxlen=256)

test_data = pad_sequences(test_data, value=word_index["<PAD>"], padding="post", maxlen=256)

print(len(train_data[0]), len(train_data[1]))
print(train_data[0])
print(train_data.shape, test_data.shape)

# ## Build the model
# input shape is the vocabulary count used for the movie reviews (10,000 words)
vocab_size = 10000

model = Sequential(seed=0)
model.add(layers.Embedding(vocab_size, 16))
model.add(layers.GlobalAveragePooling1D())
model.add(layers.Dense(16, activation="relu"))
model.add(layers.Dense(1, activation="sigmoid"))

model.summary()

# ### Loss function and optimizer
model.compile(
    optimizer=optimizers.Adam(lr=1e-5, decay=1e-5),
    loss="binary_crossentropy",
    metrics=["accuracy"],
)

# ## Train the model (validated on the test set, as the notebook did)
history = model.fit(
    train_data,
    train_labels,
    epochs=60,
    batch_size=512,
    validation_data=(test_data, test_labels),
    verbose=1,
)

# ## Evaluate the model
results = model.evaluate(test_data, test_labels)
print(results)

predictions = model.predict(test_data)
print(test_labels[:10])
print((predictions[:10] > 0.5).astype(int).ravel())

print(
    pd.crosstab(
        test_labels, (predictions.ravel() > 0.5).astype(int), rownames=["Actual"], colnames=["Predicted"]
    )
)

# ## Create a graph of accuracy and loss over time
history_dict = history.history
print(history_dict.keys())

acc = history_dict["accuracy"]
val_acc = history_dict["val_accuracy"]
loss = history_dict["loss"]
val_loss = history_dict["val_loss"]

epochs = range(1, len(acc) + 1)

# "bo" is for "blue dot"
plt.plot(epochs, loss, "bo", label="Training loss")
# b is for "solid blue line"
plt.plot(epochs, val_loss, "b", label="Validation loss")
plt.title("Training and validation loss")
plt.xlabel("Epochs")
plt.ylabel("Loss")
plt.legend()

plt.savefig("imdb_loss.png")

plt.clf()  # clear figure

plt.plot(epochs, acc, "bo", label="Training acc")
plt.plot(epochs, val_acc, "b", label="Validation acc")
plt.title("Training and validation accuracy")
plt.xlabel("Epochs")
plt.ylabel("Accuracy")
plt.legend()

plt.savefig("imdb_accuracy.png")
print(np.mean((predictions.ravel() > 0.5) == test_labels))
