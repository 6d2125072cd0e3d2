"""Second thoughts: re-check the kept texts after a rule change, and learn from readers' labels.

`rematch.py` re-scores kept texts and stories with the current rules (`monitor rematch`); `labelling.py` takes a
reader's verdict on a story, a URL or a file (`monitor label`) and writes the labels out as a folder
(`monitor labels export`); `blame.py` says which topic and which term caused each false alarm and miss
(`monitor eval`, on a folder or on the labels).
"""
