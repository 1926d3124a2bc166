"""Spending points: supermarkets' rewards, stock and vouchers."""
