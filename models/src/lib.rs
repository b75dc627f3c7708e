//! ballot-models.
