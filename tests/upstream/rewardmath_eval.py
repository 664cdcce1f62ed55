# Copied unchanged from github.com/kimsh0507/RewardMATH_official at cde06ab3f5466e1f94e74ba4fadf0e6561434ecb,
# src/evaluation/eval.py: its imports that these classes use, then BaseEvaluation and RewardMATHEvaluation as they
# stand there (for the parity tests only; see README.md). MIT License, Copyright (c) 2024 Sunghwan Kim (see README.md).
import random
import numpy as np
from abc import ABC, abstractmethod

class BaseEvaluation(ABC):
    def __init__(self, dataset):
        self.dataset = dataset

    @abstractmethod
    def get_results(self):
        pass

class RewardMATHEvaluation(BaseEvaluation):
    def __init__(self, dataset: list, func_list: list, except_model: str=None):
        super().__init__(dataset)
        self.func_list = func_list
        self.except_model = except_model

    def _calculate_final_reward(self, output, func_name):
        if func_name=="min":
            return min(output)
        elif func_name=="max":
            return max(output)
        elif func_name=="prod":
            prod = 1
            for out in output:
                prod*=out
            return prod
        elif func_name=="geometric_mean":
            g_mean = 1
            for out in output:
                g_mean*=out
            return g_mean**(1/len(output))
        elif func_name=="mean":
            return sum(output)/len(output)
        elif func_name=="mean_logit":
            p = np.array(output)
            logit = np.log(p / (1 - p))
            mean_logit = 1 / (1 + np.exp(-np.mean(logit)))
            return mean_logit
        elif func_name=="mean_odd":
            p = np.array(output)
            odds = p / (1 - p)
            mean_odd = np.maximum(0, np.mean(odds))
            return mean_odd
        elif func_name=="last":
            return output[-1]
        else:
            return None
        
    def _calculate_MRR(self, chosen_score, rejected_score, mode="mrr"):
        tmp_list = []
        for rejected_s in rejected_score:
            tmp_list.append((rejected_s, "rej"))
        for chosen_s in chosen_score:
            tmp_list.append((chosen_s, "cho"))
        sorted_list = sorted(tmp_list, key=lambda x: (x[0], x[1]), reverse=True)
        first_chosen_idx = None
        for i, s in enumerate(sorted_list):
            if s[1]=="cho":
                first_chosen_idx = i+1
                break
        if mode=="mrr":
            return 1/first_chosen_idx
        elif mode=="rank":
            return (len(tmp_list) - first_chosen_idx)/(len(tmp_list)-1)
    
    def processing_results(self, data):
       
        chosen_score = {func_name: [] for func_name in self.func_list}
        rejected_score = {func_name: [] for func_name in self.func_list}

        for func_name in self.func_list:
            if func_name == "pairwise":
                win_result = {
                    "total" : [],
                    "easy" : [],
                    "hard": []
                }
            for idx, (data_source, score) in enumerate(zip(data["solution_reference"], data["score"])):
                if func_name == "pairwise":
                    win_result["total"].append(score==data["chosen_position"][idx])
                else:
                    if func_name == "normal":
                        tmp_score = score
                    else:
                        tmp_score =  self._calculate_final_reward(score, func_name=func_name)
                    if data_source == "human_to_GPT-4":
                        chosen_score[func_name].append(tmp_score)
                    else:
                        if data_source!=self.except_model:
                            rejected_score[func_name].append(tmp_score)

            if func_name == "pairwise":
                # chosen > rejected -> reward_rej = 1, chosen < rejected  -> reward_rej : largest reward
                largest_reward = len(win_result["total"])+2
                chosen_score[func_name].append(sum(win_result["total"])+1)
                rejected_score[func_name] = [1 if x else largest_reward for x in win_result["total"]]
                
        return {
            "problem" : data["problem"],
            "chosen_score" : chosen_score,
            "rejected_score" : rejected_score
        }
        
    def get_results(self):
        final_data_score = [self.processing_results(data) for data in self.dataset]

        metric_list = ["reward Acc", "reward MRR"]
        final_results = {}
        for func_name in self.func_list:
            final_results[func_name] = {metric_name: [] for metric_name in metric_list}
            final_results[func_name]["reward Acc (w/ tie)"] = []
            for data_score in final_data_score:
                final_results[func_name]["reward Acc (w/ tie)"].append(min(data_score["chosen_score"][func_name]) >= max(data_score["rejected_score"][func_name]))
                final_results[func_name]["reward Acc"].append(min(data_score["chosen_score"][func_name]) > max(data_score["rejected_score"][func_name]))
                final_results[func_name]["reward MRR"].append(self._calculate_MRR(data_score["chosen_score"][func_name], data_score["rejected_score"][func_name]))

        print("### Total Results ###")
        for func_name in self.func_list:
            if func_name=="normal":
                print("w/ tie Acc: ", round(100*sum(final_results[func_name]["reward Acc (w/ tie)"])/len(final_results[func_name]["reward Acc (w/ tie)"]),3))
            for metric in final_results[func_name]:
                if metric=="reward Acc (w/ tie)":
                    pass
                print(round(100*sum(final_results[func_name][metric])/len(final_results[func_name][metric]),3), end=", ")
            print()
                    

        return final_results