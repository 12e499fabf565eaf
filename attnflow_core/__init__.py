"""Attention Flows core: compare a pre-trained BERT encoder's attention with its fine-tuned counterpart's."""
